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

    /// An address's bytes as the packet carries them (SocketAddress.onTheWire).
    static func wireAddress(_ a: SocketAddress) -> [UInt8]? {
        switch a.onTheWire {
        case .inet4(let bytes, _), .inet6(let bytes, _, _, _): return bytes
        default: return nil
        }
    }

    /// The IP packet: header, then the TCP header with its checksum.
    public func packet() throws -> [UInt8] {
        guard let from = Self.wireAddress(source), let to = Self.wireAddress(destination), from.count == to.count else {
            throw SystemError("building a TCP segment from \(source) to \(destination)", errno: EAFNOSUPPORT)
        }
        var tcp = Self.be16(source.port) + Self.be16(destination.port) + Self.be32(sequence) + Self.be32(acknowledgment)
        tcp += [5 << 4, flags] + Self.be16(window) + [0, 0, 0, 0]
        let length = tcp.count
        let pseudo = from.count == 4
            ? from + to + [0, UInt8(IPPROTO_TCP)] + Self.be16(UInt16(length))
            : from + to + Self.be32(UInt32(length)) + [0, 0, 0, UInt8(IPPROTO_TCP)]
        let sum = Self.checksum(pseudo + tcp)
        tcp[16] = UInt8(sum >> 8)
        tcp[17] = UInt8(sum & 0xff)
        if from.count == 4 {
            var ip: [UInt8] = [0x45, 0] + Self.be16(UInt16(20 + length)) + [0, 0, 0x40, 0, 64, UInt8(IPPROTO_TCP), 0, 0] + from + to
            let headerSum = Self.checksum(ip)
            ip[10] = UInt8(headerSum >> 8)
            ip[11] = UInt8(headerSum & 0xff)
            return ip + tcp
        }
        return [0x60, 0, 0, 0] + Self.be16(UInt16(length)) + [UInt8(IPPROTO_TCP), 64] + from + to + tcp
    }

    /// Sends the packet to its destination through a raw socket that
    /// carries its own IP header.
    public func send() throws {
        let bytes = try packet()
        let ipv4 = bytes[0] >> 4 == 4
        let fd = try Sockets.create(family: ipv4 ? AF_INET : AF_INET6, type: Int32(SOCK_RAW.rawValue), protocol: Int32(IPPROTO_RAW))
        defer { close(fd) }
        // Where the packet goes is in its header; the kernel wants the
        // address again, without a port, and a link-local one's interface.
        var scope: UInt32 = 0
        if case .inet6(_, _, _, let id) = destination { scope = id }
        let target: SocketAddress = ipv4 ? .inet4(address: Array(bytes[16..<20]), port: 0)
                                         : .inet6(address: Array(bytes[24..<40]), port: 0, flowInfo: 0, scopeID: scope)
        let address = target.bytes
        let n = bytes.withUnsafeBytes { packet in
            address.withUnsafeBytes { raw in
                sendto(fd, packet.baseAddress, packet.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
        }
        if n != bytes.count { throw SystemError("sending a TCP segment from \(source) to \(destination) through a raw socket") }
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

    /// The Internet checksum (RFC 1071) of `bytes`.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    private static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
}
