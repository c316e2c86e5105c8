import Glibc

/// A bare TCP segment (no payload, no options) put on the local host's
/// input path as if its peer had sent it, through a raw socket. The
/// restore gives a socket in repair mode the FIN its peer sent before the
/// dump, which repair mode has no other way to take: the socket then
/// stands in CLOSE_WAIT, or LAST_ACK, as the original did.
public struct TCPSegment: Equatable, Sendable {
    public static let fin: UInt8 = 0x01
    public static let reset: UInt8 = 0x04
    public static let ack: UInt8 = 0x10

    public var source: SocketAddress
    public var destination: SocketAddress
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: UInt8
    public var window: UInt16

    public init(from source: SocketAddress, to destination: SocketAddress, sequence: UInt32, acknowledgment: UInt32,
                flags: UInt8, window: UInt16) {
        self.source = source
        self.destination = destination
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.window = window
    }

    /// The IP packet: header, then the TCP header with its checksum.
    public func packet() throws -> [UInt8] {
        guard let from = RawIPPacket.wireAddress(source), let to = RawIPPacket.wireAddress(destination), from.count == to.count else {
            throw SystemError("building a TCP segment from \(source) to \(destination)", errno: EAFNOSUPPORT)
        }
        var tcp = RawIPPacket.be16(source.port) + RawIPPacket.be16(destination.port) + RawIPPacket.be32(sequence) + RawIPPacket.be32(acknowledgment)
        tcp += [5 << 4, flags] + RawIPPacket.be16(window) + [0, 0, 0, 0]
        return RawIPPacket.packet(from: from, to: to, protocol: UInt8(IPPROTO_TCP), transport: tcp, checksumAt: 16)
    }

    /// Sends the packet to its destination through a raw socket that
    /// carries its own IP header.
    public func send() throws {
        var scope: UInt32 = 0
        if case .inet6(_, _, _, let id) = destination { scope = id }
        try RawIPPacket.Sender().send(try packet(), scopeID: scope, what: "a TCP segment from \(source) to \(destination)")
    }

    /// Sends the segment to the socket `fd` (crtool's copy of its
    /// destination) and waits up to a second for the socket to move on
    /// from the state it was in; whether it did. Local delivery runs the
    /// segment through the socket before sendto returns, or soon after on
    /// a busy host.
    public func deliver(to fd: Int32) throws -> Bool {
        let before = try TCPInfo.read(fd).state
        try send()
        for _ in 0..<100 {
            if try TCPInfo.read(fd).state != before { return true }
            usleep(10_000)
        }
        return false
    }
}
