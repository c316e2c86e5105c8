import Glibc
import Ptrace

/// Multicast groups of UDP sockets (service discovery, media receivers):
/// which groups a socket joined, with source filters, found by asking it
/// about every group an interface joined, and joined again on restore on
/// the interface of the same name. Without them a restored socket would
/// stay bound and silent.
enum MulticastGroups {
    static func read(_ fd: Int32, ipv6: Bool) throws -> [MulticastMembership]? {
        var result: [MulticastMembership] = []
        for group in try Multicast.interfaceGroups(ipv6: ipv6) {
            guard let filter = try Multicast.filter(fd, group: group, ipv6: ipv6) else { continue }
            var m = MulticastMembership(interface: group.interfaceName, group: text(group.address))
            if filter != .any {
                m.includeSources = filter.include
                m.sources = filter.sources.map(text)
            }
            result.append(m)
        }
        return result.isEmpty ? nil : result
    }

    static func join(_ memberships: [MulticastMembership], on fd: Int32, ipv6: Bool, what: String) throws {
        for m in memberships {
            let index = if_nametoindex(m.interface)
            guard index != 0 else {
                throw CheckpointError("\(what) had joined multicast group \(m.group) on interface \(m.interface), which this host does not have")
            }
            let filter = Multicast.SourceFilter(include: m.includeSources ?? false, sources: try (m.sources ?? []).map { try bytes($0, what: what) })
            do {
                try Multicast.join(fd, interfaceIndex: index, group: try bytes(m.group, what: what), filter: filter, ipv6: ipv6)
            } catch {
                throw CheckpointError("\(what) cannot join multicast group \(m.group) on \(m.interface) again: \(error)")
            }
        }
    }

    private static func text(_ address: [UInt8]) -> String {
        let a: SocketAddress = address.count == 16 ? .inet6(address: address, port: 0, flowInfo: 0, scopeID: 0) : .inet4(address: address, port: 0)
        return a.host ?? "?"
    }

    private static func bytes(_ host: String, what: String) throws -> [UInt8] {
        switch try? SocketAddress.inet(host: host, port: 0) {
        case .inet4(let a, _)?: return a
        case .inet6(let a, _, _, _)?: return a
        default: throw CheckpointError("the image holds a multicast address crtool cannot read for \(what): \"\(host)\"")
        }
    }
}
