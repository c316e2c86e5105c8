import Glibc

/// A socket address as the kernel takes and gives it (struct sockaddr_un,
/// sockaddr_in, sockaddr_in6), built and read as bytes so no caller has to
/// cast sockaddr pointers.
public enum SocketAddress: Equatable, Sendable, CustomStringConvertible {
    /// A unix socket without a name (socketpair, unbound, autobind not used).
    case unnamed
    /// A unix socket bound to a file system path.
    case unixPath(String)
    /// A unix socket in the abstract namespace: the name without its leading NUL.
    case unixAbstract([UInt8])
    /// IPv4: four address bytes in network order, port in host order.
    case inet4(address: [UInt8], port: UInt16)
    /// IPv6: sixteen address bytes, port in host order.
    case inet6(address: [UInt8], port: UInt16, flowInfo: UInt32, scopeID: UInt32)
    /// Netlink: a port id (0 for the kernel, or a socket not yet bound)
    /// and the bit mask of the first 32 multicast groups.
    case netlink(portID: UInt32, groups: UInt32)
    /// A packet socket's binding: the ethertype (host order) and the
    /// interface index, 0 for every interface.
    case packet(protocolNumber: UInt16, interfaceIndex: Int32)

    /// Bytes of the sockaddr structure, exactly as long as bind(2) wants.
    public var bytes: [UInt8] {
        switch self {
        case .unnamed:
            return [UInt8].le(UInt16(AF_UNIX))
        case .unixPath(let path):
            return [UInt8].le(UInt16(AF_UNIX)) + Array(path.utf8) + [0]
        case .unixAbstract(let name):
            return [UInt8].le(UInt16(AF_UNIX)) + [0] + name
        case .inet4(let address, let port):
            return [UInt8].le(UInt16(AF_INET)) + [UInt8(port >> 8), UInt8(port & 0xff)] + address + [UInt8](repeating: 0, count: 8)
        case .inet6(let address, let port, let flowInfo, let scopeID):
            return [UInt8].le(UInt16(AF_INET6)) + [UInt8(port >> 8), UInt8(port & 0xff)]
                + [UInt8].le(flowInfo.bigEndian) + address + [UInt8].le(scopeID)
        case .netlink(let portID, let groups):
            return [UInt8].le(UInt16(AF_NETLINK)) + [0, 0] + [UInt8].le(portID) + [UInt8].le(groups)
        case .packet(let protocolNumber, let interfaceIndex):
            // struct sockaddr_ll: hatype, pkttype, halen and addr left 0.
            return [UInt8].le(UInt16(AF_PACKET)) + [UInt8(protocolNumber >> 8), UInt8(protocolNumber & 0xff)]
                + [UInt8].le(interfaceIndex) + [UInt8](repeating: 0, count: 12)
        }
    }

    /// Reads a sockaddr of `bytes.count` bytes as getsockname(2) filled it.
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 2 else { throw SocketAddressError("a socket address of \(bytes.count) bytes") }
        let family = Int32(bytes.le(UInt16.self, at: 0))
        switch family {
        case AF_UNIX:
            let path = bytes.dropFirst(2)
            if path.isEmpty {
                self = .unnamed
            } else if path.first == 0 {
                self = .unixAbstract(Array(path.dropFirst()))
            } else {
                self = .unixPath(String(decoding: path.prefix(while: { $0 != 0 }), as: UTF8.self))
            }
        case AF_INET:
            guard bytes.count >= 8 else { throw SocketAddressError("an IPv4 address of \(bytes.count) bytes") }
            self = .inet4(address: Array(bytes[4..<8]), port: UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        case AF_INET6:
            guard bytes.count >= 24 else { throw SocketAddressError("an IPv6 address of \(bytes.count) bytes") }
            self = .inet6(address: Array(bytes[8..<24]), port: UInt16(bytes[2]) << 8 | UInt16(bytes[3]),
                          flowInfo: UInt32(bigEndian: bytes.le(UInt32.self, at: 4)),
                          scopeID: bytes.count >= 28 ? bytes.le(UInt32.self, at: 24) : 0)
        case AF_NETLINK:
            guard bytes.count >= 12 else { throw SocketAddressError("a netlink address of \(bytes.count) bytes") }
            self = .netlink(portID: bytes.le(UInt32.self, at: 4), groups: bytes.le(UInt32.self, at: 8))
        case AF_PACKET:
            guard bytes.count >= 8 else { throw SocketAddressError("a packet address of \(bytes.count) bytes") }
            self = .packet(protocolNumber: UInt16(bytes[2]) << 8 | UInt16(bytes[3]), interfaceIndex: bytes.le(Int32.self, at: 4))
        default:
            throw SocketAddressError("a socket address of family \(family)")
        }
    }

    public var family: Int32 {
        switch self {
        case .unnamed, .unixPath, .unixAbstract: return AF_UNIX
        case .inet4: return AF_INET
        case .inet6: return AF_INET6
        case .netlink: return AF_NETLINK
        case .packet: return AF_PACKET
        }
    }

    /// The port of an inet address, 0 for unix addresses.
    public var port: UInt16 {
        switch self {
        case .inet4(_, let port), .inet6(_, let port, _, _): return port
        default: return 0
        }
    }

    /// An inet address from its text form ("127.0.0.1", "::1") and a port.
    public static func inet(host: String, port: UInt16, scopeID: UInt32 = 0) throws -> SocketAddress {
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, host, &buffer) == 1 {
            return .inet4(address: Array(buffer.prefix(4)), port: port)
        }
        if inet_pton(AF_INET6, host, &buffer) == 1 {
            return .inet6(address: buffer, port: port, flowInfo: 0, scopeID: scopeID)
        }
        throw SocketAddressError("the address \"\(host)\"")
    }

    /// The address as packets carry it: an IPv6 socket talking to an IPv4
    /// peer (a dual-stack listener's connection) names both ends
    /// ::ffff:a.b.c.d, but its packets are IPv4. Any other address as it is.
    public var onTheWire: SocketAddress {
        guard case .inet6(let bytes, let port, _, _) = self, bytes.count == 16,
              bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff
        else { return self }
        return .inet4(address: Array(bytes.suffix(4)), port: port)
    }

    /// The host part in text form for inet addresses ("127.0.0.1", "::1").
    public var host: String? {
        let family: Int32
        let address: [UInt8]
        switch self {
        case .inet4(let a, _): family = AF_INET; address = a
        case .inet6(let a, _, _, _): family = AF_INET6; address = a
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(family, address, &text, socklen_t(text.count)) != nil else { return nil }
        return String(cString: text)
    }

    public var description: String {
        switch self {
        case .unnamed: return "an unnamed socket"
        case .unixPath(let path): return path
        case .unixAbstract(let name): return "@" + String(decoding: name.map { $0 == 0 ? UInt8(ascii: "@") : $0 }, as: UTF8.self)
        case .inet4: return "\(host ?? "?"):\(port)"
        case .inet6: return "[\(host ?? "?")]:\(port)"
        case .netlink(let portID, let groups):
            return groups == 0 ? "netlink port \(portID)" : "netlink port \(portID) groups 0x\(String(groups, radix: 16))"
        case .packet(let protocolNumber, let interfaceIndex):
            return "ethertype 0x\(String(protocolNumber, radix: 16)) on " + (interfaceIndex == 0 ? "every interface" : "interface \(interfaceIndex)")
        }
    }
}

/// A socket address crtool cannot represent.
public struct SocketAddressError: Error, CustomStringConvertible, Sendable {
    public var what: String
    public init(_ what: String) { self.what = what }
    public var description: String { "cannot handle \(what)" }
}
