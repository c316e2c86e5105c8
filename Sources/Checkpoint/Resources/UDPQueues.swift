import Foundation
import Glibc
import Ptrace

/// The datagrams waiting in a UDP socket's queue at the dump: a DNS
/// server's or a syslog daemon's requests that arrived while the tree was
/// frozen. They are read without being taken (UDPQueue.peek) and, once
/// the restored socket is bound and before it is connected, sent to it
/// again from their senders' addresses through the loopback device, in
/// order, so that the program reads each once, as it would have.
///
/// At most QueuedDatagramImage.mostQueued datagrams are kept, the first;
/// the rest are dropped, as a network may drop them. Not kept: the queue
/// of a socket bound to a device other than lo (the
/// datagrams come in through lo, which it does not hear) or sharing its
/// port with SO_REUSEPORT (the kernel would hand each to any socket of
/// the group), and of one with an error waiting (a peek would take it
/// from the program).
enum UDPQueues {
    static func read(_ fd: Int32, state: InetSocketState, what: String) throws -> [QueuedDatagramImage]? {
        guard state.transport == .udp, state.local != nil, keepsQueue(state), !UDPQueue.hasPendingError(fd) else { return nil }
        let queue: [QueuedDatagram]
        do {
            queue = try UDPQueue.peek(fd, ipv6: state.family == .ipv6, limit: QueuedDatagramImage.mostQueued)
        } catch let e as SystemError {
            throw CheckpointError("cannot read the datagrams queued on \(what): \(e)")
        }
        guard !queue.isEmpty else { return nil }
        return queue.map {
            QueuedDatagramImage(source: InetSockets.endpoint($0.source), destination: $0.destination?.host, payload: Data($0.payload))
        }
    }

    private static func keepsQueue(_ state: InetSocketState) -> Bool {
        !state.options.contains { o in
            (o.name == "SO_REUSEPORT" && o.value != 0)
                || (o.name == "SO_BINDTODEVICE" && !(o.bytes ?? Data()).prefix { $0 != 0 }.isEmpty && o.bytes?.prefix(3) != Data("lo\0".utf8))
        }
    }

    /// Sends `queue` to `fd`, bound by now as `state` says, and waits until
    /// every datagram is in its queue. The receive buffer is widened for
    /// the moment: the datagrams fitted in it at the dump, but their
    /// kernel bookkeeping may differ a little here.
    static func putBack(_ queue: [QueuedDatagramImage], on fd: Int32, state: InetSocketState, what: String) throws {
        let buffer = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_RCVBUF)
        let needed = queue.reduce(0) { $0 + $1.payload.count + 2048 }
        if needed > Int(buffer) { try SocketOptionSet.setBuffer(fd, option: SO_RCVBUF, bytes: Int32(clamping: needed * 2)) }
        let sender = UDPQueue.Sender()
        for (i, d) in queue.enumerated() {
            let source = try InetSockets.address(d.source)
            let target = try destination(of: d, from: source, state: state)
            do {
                try sender.send([UInt8](d.payload), from: source, to: target)
            } catch let e as SystemError {
                throw CheckpointError("cannot give \(what) datagram \(i + 1) of the \(queue.count) queued at the dump, from \(source) to \(target): \(e)")
            }
        }
        let arrived = { (try? UDPQueue.peek(fd, ipv6: state.family == .ipv6).count) ?? 0 }
        var count = arrived()
        for _ in 0..<100 where count < queue.count {
            usleep(10_000)
            count = arrived()
        }
        if needed > Int(buffer) { try SocketOptionSet.setBuffer(fd, option: SO_RCVBUF, bytes: buffer) }
        guard count >= queue.count else {
            throw CheckpointError("cannot give \(what) the \(queue.count) datagrams queued at the dump: \(count) reached it")
        }
    }

    /// Where a datagram goes again: to the address it was sent to when
    /// that was one of the host's own, else to the socket's, else to the
    /// loopback address of its family; to the socket's port.
    private static func destination(of d: QueuedDatagramImage, from source: SocketAddress, state: InetSocketState) throws -> SocketAddress {
        let port = state.local?.port ?? 0
        let ipv4: Bool
        if case .inet4 = source.onTheWire { ipv4 = true } else { ipv4 = false }
        let candidates = [d.destination, state.local?.host].compactMap { $0 }.compactMap { try? SocketAddress.inet(host: $0, port: port).onTheWire }
        if let unicast = candidates.first(where: { isUnicast($0) && isIPv4($0) == ipv4 }) {
            if case .inet6(let a, _, _, _) = unicast { return .inet6(address: a, port: port, flowInfo: 0, scopeID: state.local?.scopeID ?? 0) }
            return unicast
        }
        return try SocketAddress.inet(host: ipv4 ? "127.0.0.1" : "::1", port: port)
    }

    private static func isIPv4(_ a: SocketAddress) -> Bool {
        if case .inet4 = a { return true }
        return false
    }

    /// Neither any address, nor a multicast or the broadcast address.
    private static func isUnicast(_ a: SocketAddress) -> Bool {
        switch a {
        case .inet4(let b, _): return b != [0, 0, 0, 0] && b != [255, 255, 255, 255] && !(224...239).contains(b[0])
        case .inet6(let b, _, _, _): return !b.allSatisfy { $0 == 0 } && b[0] != 0xff
        default: return false
        }
    }
}
