import Glibc

/// A datagram that waits in a UDP socket's receive queue: who sent it, to
/// which of the host's addresses (the socket may be bound to all of them,
/// and a server answers from the one asked), and its bytes.
public struct QueuedDatagram: Equatable, Sendable {
    public var source: SocketAddress
    /// The address in its IP header, port 0; nil when the kernel did not
    /// tell it.
    public var destination: SocketAddress?
    public var payload: [UInt8]

    public init(source: SocketAddress, destination: SocketAddress?, payload: [UInt8]) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }

    /// The most a UDP datagram carries over IPv6 (a 16-bit length that
    /// counts the 8-byte header); over IPv4, 20 bytes less.
    public static let largestPayload = 65527
}

/// Reading a UDP socket's queue at the dump without taking it, and giving
/// a restored socket its datagrams back as if their senders had sent them
/// again.
public enum UDPQueue {
    /// The socket's queued datagrams, in order. The destination comes from
    /// IP_PKTINFO (IPV6_RECVPKTINFO), turned on for the moment and put
    /// back as the process had it: the kernel reads it from each datagram's
    /// header, so datagrams queued before it was on tell it too. At most
    /// `limit`, the first: those the program reads first.
    public static func peek(_ fd: Int32, ipv6: Bool, limit: Int = 1 << 16) throws -> [QueuedDatagram] {
        let (level, option) = ipv6 ? (Int32(IPPROTO_IPV6), Int32(49)) : (Int32(IPPROTO_IP), Int32(8)) // IPV6_RECVPKTINFO, IP_PKTINFO
        let old = try Sockets.intOption(fd, level: level, name: option)
        try Sockets.setIntOption(fd, level: level, name: option, 1)
        defer { try? Sockets.setIntOption(fd, level: level, name: option, old) }
        return try SocketQueue.withPeekOffset(fd) {
            var out: [QueuedDatagram] = []
            // One buffer for all: a queue may hold thousands of datagrams.
            var data = [UInt8](repeating: 0, count: QueuedDatagram.largestPayload + 1)
            while out.count < limit, let datagram = try peekOne(fd, into: &data) {
                out.append(datagram)
            }
            return out
        }
    }

    private static func peekOne(_ fd: Int32, into data: inout [UInt8]) throws -> QueuedDatagram? {
        var name = [UInt8](repeating: 0, count: 128)
        var control = [UInt8](repeating: 0, count: 256)
        var nameLength = 0, controlLength = 0
        var flags: Int32 = 0
        let n = data.withUnsafeMutableBytes { d in
            name.withUnsafeMutableBytes { a in
                control.withUnsafeMutableBytes { c in
                    var iov = iovec(iov_base: d.baseAddress, iov_len: d.count)
                    return withUnsafeMutablePointer(to: &iov) { iovp in
                        var msg = msghdr(msg_name: a.baseAddress, msg_namelen: socklen_t(a.count), msg_iov: iovp, msg_iovlen: 1,
                                         msg_control: c.baseAddress, msg_controllen: c.count, msg_flags: 0)
                        var r: Int
                        repeat { r = recvmsg(fd, &msg, Int32(MSG_PEEK | MSG_DONTWAIT)) } while r < 0 && errno == EINTR
                        nameLength = Int(msg.msg_namelen)
                        controlLength = Int(msg.msg_controllen)
                        flags = msg.msg_flags
                        return r
                    }
                }
            }
        }
        if n < 0 {
            if errno == EAGAIN { return nil }
            throw SystemError("peeking at a UDP socket's queue")
        }
        if flags & Int32(MSG_TRUNC) != 0 {
            throw SystemError("peeking at a queued datagram larger than UDP carries", errno: EMSGSIZE)
        }
        let source = try SocketAddress(bytes: Array(name.prefix(nameLength)))
        return QueuedDatagram(source: source, destination: destination(in: Array(control.prefix(controlLength))), payload: Array(data.prefix(n)))
    }

    /// The destination of IP_PKTINFO's struct in_pktinfo (the header's
    /// address at 8) or IPV6_PKTINFO's struct in6_pktinfo (at 0) in a
    /// control buffer (struct cmsghdr: a 64-bit length, level, type, the
    /// data, each header aligned to 8 bytes).
    static func destination(in control: [UInt8]) -> SocketAddress? {
        var at = 0
        while at + 16 <= control.count {
            let length = Int(control.le(UInt64.self, at: at))
            let level = Int32(bitPattern: control.le(UInt32.self, at: at + 8))
            let type = Int32(bitPattern: control.le(UInt32.self, at: at + 12))
            guard length >= 16, at + length <= control.count else { return nil }
            if level == Int32(IPPROTO_IP), type == 8, length >= 16 + 12 { // IP_PKTINFO
                return .inet4(address: Array(control[(at + 24)..<(at + 28)]), port: 0)
            }
            if level == Int32(IPPROTO_IPV6), type == 50, length >= 16 + 20 { // IPV6_PKTINFO
                return .inet6(address: Array(control[(at + 16)..<(at + 32)]), port: 0, flowInfo: 0, scopeID: 0).onTheWire
            }
            at += (length + 7) & ~7
        }
        return nil
    }

    /// The IP packet that carries `payload` from `source` to `destination`
    /// (ports included) as UDP.
    public static func packet(_ payload: [UInt8], from source: SocketAddress, to destination: SocketAddress) throws -> [UInt8] {
        guard let from = RawIPPacket.wireAddress(source), let to = RawIPPacket.wireAddress(destination), from.count == to.count,
              payload.count <= QueuedDatagram.largestPayload - (from.count == 4 ? 20 : 0) else {
            throw SystemError("building a datagram of \(payload.count) bytes from \(source) to \(destination)", errno: EAFNOSUPPORT)
        }
        let udp = RawIPPacket.be16(source.port) + RawIPPacket.be16(destination.port) + RawIPPacket.be16(UInt16(8 + payload.count)) + [0, 0]
        return RawIPPacket.packet(from: from, to: to, protocol: UInt8(IPPROTO_UDP), transport: udp + payload, checksumAt: 6)
    }

    /// Sends datagrams through the loopback device, which keeps them on
    /// this host: the restored socket bound to a datagram's destination
    /// takes it as if its sender had sent it again. One raw socket a
    /// family serves every datagram of a queue.
    public final class Sender {
        private let raw = RawIPPacket.Sender(device: "lo")

        public init() {}

        public func send(_ payload: [UInt8], from source: SocketAddress, to destination: SocketAddress) throws {
            var scope: UInt32 = 0
            if case .inet6(_, _, _, let id) = destination { scope = id }
            try raw.send(try UDPQueue.packet(payload, from: source, to: destination), scopeID: scope,
                         what: "a datagram from \(source) to \(destination)")
        }
    }
}

extension UDPQueue {
    /// Whether an error waits on the socket (an ICMP port unreachable for
    /// a connected one): the next receive, a peek too, would return it
    /// and clear it. poll tells without taking it.
    public static func hasPendingError(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLERR), revents: 0)
        return poll(&p, 1, 0) == 1 && p.revents & Int16(POLLERR) != 0
    }
}
