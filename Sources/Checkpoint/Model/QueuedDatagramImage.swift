import Foundation
import Ptrace

/// A datagram that waited in a UDP socket's queue at the dump (see
/// Resources/UDPQueues.swift): the restore sends it to the socket again
/// from its sender's address, and the program reads it as it would have.
public struct QueuedDatagramImage: Codable, Equatable, Sendable {
    public var source: InetEndpoint
    /// The host's address it was sent to, from its IP header; nil when
    /// the kernel did not say.
    public var destination: String?
    public var payload: Data

    public init(source: InetEndpoint, destination: String?, payload: Data) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }

    /// More than this many datagrams in one queue is refused as hostile:
    /// a queue holds what its receive buffer does, a few MiB.
    public static let mostQueued = 1 << 16

    /// What in a queue read from an image could not be sent again.
    public static func invalidField(of queue: [QueuedDatagramImage]) -> (field: String, reason: String)? {
        guard queue.count <= mostQueued else { return ("queue", "\(queue.count) datagrams, more than a queue holds") }
        for (i, d) in queue.enumerated() {
            guard d.payload.count <= QueuedDatagram.largestPayload else {
                return ("queue[\(i)].payload", "\(d.payload.count) bytes, more than a datagram carries")
            }
            guard (try? SocketAddress.inet(host: d.source.host, port: d.source.port)) != nil else {
                return ("queue[\(i)].source", "\"\(d.source.host)\" is not an IP address")
            }
            if let to = d.destination, (try? SocketAddress.inet(host: to, port: 0)) == nil {
                return ("queue[\(i)].destination", "\"\(to)\" is not an IP address")
            }
        }
        return nil
    }
}
