import Glibc

/// IP packets crtool builds whole and puts on the local host's input path
/// through a raw socket, as if their source had sent them: a TCP segment
/// a socket in repair mode cannot take otherwise (TCPSegment), a datagram
/// that waited in a UDP socket's queue at the dump (InjectedDatagram).
enum RawIPPacket {
    /// An address's bytes as the packet carries them (SocketAddress.onTheWire).
    static func wireAddress(_ a: SocketAddress) -> [UInt8]? {
        switch a.onTheWire {
        case .inet4(let bytes, _), .inet6(let bytes, _, _, _): return bytes
        default: return nil
        }
    }

    /// `transport` behind an IPv4 or IPv6 header from `from` to `to`, its
    /// checksum (the two bytes at `checksumAt`, zero in `transport`) taken
    /// over it and the pseudo-header.
    static func packet(from: [UInt8], to: [UInt8], protocol proto: UInt8, transport: [UInt8], checksumAt: Int) -> [UInt8] {
        var transport = transport
        let length = transport.count
        let pseudo = from.count == 4
            ? from + to + [0, proto] + be16(UInt16(length))
            : from + to + be32(UInt32(length)) + [0, 0, 0, proto]
        var sum = checksum(pseudo + transport)
        // UDP sends a checksum that comes out 0 as all ones: 0 means none.
        if proto == UInt8(IPPROTO_UDP) && sum == 0 { sum = 0xffff }
        transport[checksumAt] = UInt8(sum >> 8)
        transport[checksumAt + 1] = UInt8(sum & 0xff)
        if from.count == 4 {
            var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + length)) + [0, 0, 0x40, 0, 64, proto, 0, 0] + from + to
            let headerSum = checksum(ip)
            ip[10] = UInt8(headerSum >> 8)
            ip[11] = UInt8(headerSum & 0xff)
            return ip + transport
        }
        return [0x60, 0, 0, 0] + be16(UInt16(length)) + [proto, 64] + from + to + transport
    }

    /// Raw sockets that carry their own IP header, one for each family,
    /// each made when first needed and kept for the packets after it: a
    /// UDP queue given back may be thousands of datagrams. Bound to
    /// `device` when one is named, so that a packet can leave by no other.
    final class Sender {
        private let device: String?
        private var sockets: [Int32: Int32] = [:]

        init(device: String? = nil) {
            self.device = device
        }

        deinit {
            sockets.values.forEach { close($0) }
        }

        private func socket(_ family: Int32) throws -> Int32 {
            if let fd = sockets[family] { return fd }
            let fd = try Sockets.create(family: family, type: Int32(SOCK_RAW.rawValue), protocol: Int32(IPPROTO_RAW))
            if let device {
                do {
                    try Sockets.setBytesOption(fd, level: SOL_SOCKET, name: SO_BINDTODEVICE, Array(device.utf8) + [0])
                } catch {
                    close(fd)
                    throw error
                }
            }
            sockets[family] = fd
            return fd
        }

        /// Sends `bytes`, an IP packet, to its destination; `what` names
        /// the packet in errors.
        func send(_ bytes: [UInt8], scopeID: UInt32, what: String) throws {
            let ipv4 = bytes[0] >> 4 == 4
            let fd = try socket(ipv4 ? AF_INET : AF_INET6)
            // Where the packet goes is in its header; the kernel wants the
            // address again, without a port, and a link-local one's interface.
            let target: SocketAddress = ipv4 ? .inet4(address: Array(bytes[16..<20]), port: 0)
                                             : .inet6(address: Array(bytes[24..<40]), port: 0, flowInfo: 0, scopeID: scopeID)
            let address = target.bytes
            let n = bytes.withUnsafeBytes { packet in
                address.withUnsafeBytes { raw in
                    sendto(fd, packet.baseAddress, packet.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
                }
            }
            if n != bytes.count { throw SystemError("sending \(what) through a raw socket") }
        }
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

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
}
