import Glibc

/// The network devices of the calling thread's network namespace, and its
/// loopback device: what a namespace that holds nothing else (unshare -n,
/// systemd's PrivateNetwork=) has of its own. Every call answers for the
/// namespace the calling thread is in (NetworkNamespace.entered).
public enum Loopback {
    public static let name = "lo"

    /// Every device's name, in index order.
    public static func deviceNames() throws -> [String] {
        guard let list = if_nameindex() else { throw SystemError("if_nameindex") }
        defer { if_freenameindex(list) }
        var names: [String] = []
        var entry = list
        while entry.pointee.if_index != 0, let name = entry.pointee.if_name {
            names.append(String(cString: name))
            entry += 1
        }
        return names
    }

    /// Whether the loopback device is up (IFF_UP).
    public static func isUp() throws -> Bool {
        try flags() & Int16(IFF_UP) != 0
    }

    /// Sets the loopback device up, as `ip link set lo up` does: the
    /// kernel gives it 127.0.0.1/8 and ::1/128 as it comes up.
    public static func setUp() throws {
        var request = try InterfaceRequest(flags: flags() | Int16(IFF_UP))
        try request.ask(Self.setFlagsRequest, what: "SIOCSIFFLAGS \(name) up")
    }

    /// Its addresses with their prefix lengths ("127.0.0.1/8", "::1/128").
    public static func addresses() throws -> [String] {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { throw SystemError("getifaddrs") }
        defer { freeifaddrs(first) }
        var found: [String] = []
        var next = first
        while let entry = next {
            next = entry.pointee.ifa_next
            guard let name = entry.pointee.ifa_name, String(cString: name) == Self.name,
                  let address = entry.pointee.ifa_addr, let host = Self.host(address) else { continue }
            let prefix = entry.pointee.ifa_netmask.flatMap(Self.prefixLength) ?? 0
            found.append("\(host)/\(prefix)")
        }
        return found.sorted()
    }

    private static func flags() throws -> Int16 {
        var request = try InterfaceRequest(flags: 0)
        try request.ask(Self.getFlagsRequest, what: "SIOCGIFFLAGS \(name)")
        return request.flags
    }

    private static func host(_ address: UnsafeMutablePointer<sockaddr>) -> String? {
        let family = Int32(address.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        guard getnameinfo(address, length, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(cString: text)
    }

    private static func prefixLength(_ mask: UnsafeMutablePointer<sockaddr>) -> Int? {
        switch Int32(mask.pointee.sa_family) {
        case AF_INET:
            return mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int($0.pointee.sin_addr.s_addr.nonzeroBitCount) }
        case AF_INET6:
            return mask.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { m in
                withUnsafeBytes(of: m.pointee.sin6_addr) { $0.reduce(0) { $0 + $1.nonzeroBitCount } }
            }
        default:
            return nil
        }
    }

    static let getFlagsRequest: UInt = 0x8913
    static let setFlagsRequest: UInt = 0x8914

    /// struct ifreq naming the loopback device, with its flags field.
    private struct InterfaceRequest {
        /// IFNAMSIZ bytes of name, then the union whose first member is
        /// ifr_flags; 40 bytes in all.
        var bytes = [UInt8](repeating: 0, count: 40)

        init(flags: Int16) throws {
            for (i, b) in Loopback.name.utf8.enumerated() { bytes[i] = b }
            self.flags = flags
        }

        var flags: Int16 {
            get { Int16(bitPattern: UInt16(bytes[16]) | UInt16(bytes[17]) << 8) }
            set {
                bytes[16] = UInt8(UInt16(bitPattern: newValue) & 0xff)
                bytes[17] = UInt8(UInt16(bitPattern: newValue) >> 8)
            }
        }

        mutating func ask(_ request: UInt, what: String) throws {
            let fd = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
            defer { close(fd) }
            let r = bytes.withUnsafeMutableBytes { ioctl(fd, request, $0.baseAddress!) }
            if r != 0 { throw SystemError(what) }
        }
    }
}
