import Glibc

/// Multicast groups a socket has joined. The kernel lists no socket's
/// groups, but it lists every group some interface of the network
/// namespace has joined (/proc/net/igmp and igmp6), and it answers
/// MCAST_MSFILTER about one group only for a socket that joined it: asking
/// about each of those groups finds the socket's, with their source
/// filters.
public enum Multicast {
    /// A group an interface has joined.
    public struct InterfaceGroup: Equatable, Sendable {
        public var interfaceIndex: UInt32
        public var interfaceName: String
        /// 4 or 16 bytes, in network order.
        public var address: [UInt8]
    }

    /// MCAST_INCLUDE with these sources, or MCAST_EXCLUDE (a plain join
    /// excludes none).
    public struct SourceFilter: Equatable, Sendable {
        public var include: Bool
        public var sources: [[UInt8]]

        public init(include: Bool, sources: [[UInt8]]) {
            self.include = include
            self.sources = sources
        }

        public static let any = SourceFilter(include: false, sources: [])
    }

    static let joinGroup: Int32 = 42 // MCAST_JOIN_GROUP
    static let sourceFilter: Int32 = 48 // MCAST_MSFILTER
    static let storageSize = 128 // struct sockaddr_storage
    static let maxSources = 64

    /// The groups of every interface, for IPv4 or IPv6.
    public static func interfaceGroups(ipv6: Bool) throws -> [InterfaceGroup] {
        ipv6 ? parseIGMP6(try ProcFile.text("/proc/net/igmp6")) : parseIGMP(try ProcFile.text("/proc/net/igmp"))
    }

    /// /proc/net/igmp: an interface line ("2\teth0      :     2      V3")
    /// followed by its groups, each the address as the kernel's 32-bit
    /// word in hex ("\t\t\t\t010000E0     1 0:00000000\t\t0").
    static func parseIGMP(_ text: String) -> [InterfaceGroup] {
        var result: [InterfaceGroup] = []
        var current: (UInt32, String)?
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first else { continue }
            if let index = UInt32(first), fields.count > 1 {
                current = (index, String(fields[1]).trimmingSuffix(":"))
            } else if let (index, name) = current, first.count == 8, let word = UInt32(first, radix: 16) {
                result.append(InterfaceGroup(interfaceIndex: index, interfaceName: name,
                                             address: (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }))
            }
        }
        return result
    }

    /// /proc/net/igmp6: "2    eth0    ff020000000000000000000000000001     1 0000000C 0".
    static func parseIGMP6(_ text: String) -> [InterfaceGroup] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let index = UInt32(fields[0]), fields[2].count == 32 else { return nil }
            let hex = Array(fields[2].utf8)
            let address = stride(from: 0, to: 32, by: 2).compactMap { UInt8(String(decoding: hex[$0..<($0 + 2)], as: UTF8.self), radix: 16) }
            return address.count == 16 ? InterfaceGroup(interfaceIndex: index, interfaceName: String(fields[1]), address: address) : nil
        }
    }

    /// The socket's source filter for `group`, or nil when it has not
    /// joined it.
    public static func filter(_ fd: Int32, group: InterfaceGroup, ipv6: Bool) throws -> SourceFilter? {
        var request = groupFilter(interface: group.interfaceIndex, group: group.address, filter: .any, room: maxSources)
        var length = socklen_t(request.count)
        let r = request.withUnsafeMutableBytes { getsockopt(fd, level(ipv6), sourceFilter, $0.baseAddress, &length) }
        if r != 0 {
            if errno == EADDRNOTAVAIL || errno == EINVAL || errno == ENODEV { return nil }
            throw SystemError("getsockopt(MCAST_MSFILTER) for a group of interface \(group.interfaceName)")
        }
        let mode = request.le(UInt32.self, at: 136)
        let count = min(Int(request.le(UInt32.self, at: 140)), maxSources)
        let sources = (0..<count).map { i -> [UInt8] in
            let base = 144 + i * storageSize
            return ipv6 ? Array(request[(base + 8)..<(base + 24)]) : Array(request[(base + 4)..<(base + 8)])
        }
        return SourceFilter(include: mode == 1, sources: sources)
    }

    /// Joins `group` on the interface `interfaceIndex` and sets its source
    /// filter if it is not the plain join's.
    public static func join(_ fd: Int32, interfaceIndex: UInt32, group: [UInt8], filter: SourceFilter, ipv6: Bool) throws {
        var request = [UInt8].le(interfaceIndex) + [UInt8](repeating: 0, count: 4) + storage(group)
        let r = request.withUnsafeMutableBytes { setsockopt(fd, level(ipv6), joinGroup, $0.baseAddress, socklen_t($0.count)) }
        if r != 0 { throw SystemError("MCAST_JOIN_GROUP on interface \(interfaceIndex)") }
        guard filter != .any else { return }
        var full = groupFilter(interface: interfaceIndex, group: group, filter: filter, room: filter.sources.count)
        let f = full.withUnsafeMutableBytes { setsockopt(fd, level(ipv6), sourceFilter, $0.baseAddress, socklen_t($0.count)) }
        if f != 0 { throw SystemError("MCAST_MSFILTER on interface \(interfaceIndex)") }
    }

    private static func level(_ ipv6: Bool) -> Int32 {
        ipv6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP)
    }

    /// A sockaddr_storage holding an address of 4 or 16 bytes, port 0.
    static func storage(_ address: [UInt8]) -> [UInt8] {
        let socket: SocketAddress = address.count == 16
            ? .inet6(address: address, port: 0, flowInfo: 0, scopeID: 0) : .inet4(address: address, port: 0)
        let bytes = socket.bytes
        return bytes + [UInt8](repeating: 0, count: storageSize - bytes.count)
    }

    /// struct group_filter: interface, group, mode (MCAST_INCLUDE 1,
    /// MCAST_EXCLUDE 0), then `room` source slots, the filter's first. The
    /// source count is the room: what a query may be given, what a setting
    /// gives.
    static func groupFilter(interface: UInt32, group: [UInt8], filter: SourceFilter, room: Int) -> [UInt8] {
        var bytes = [UInt8].le(interface) + [UInt8](repeating: 0, count: 4) + storage(group)
            + [UInt8].le(UInt32(filter.include ? 1 : 0), UInt32(room))
        for s in filter.sources { bytes += storage(s) }
        // GROUP_FILTER_SIZE(0) still has one slot.
        return bytes + [UInt8](repeating: 0, count: max(1, room - filter.sources.count) * storageSize)
    }
}

private extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
