import Foundation
import Glibc
import Ptrace

/// A network namespace of the tree's own, saved when crtool can make it
/// again whole: it holds no device but its loopback (and those the kernel
/// puts in every new namespace) and veth devices into crtool's namespace
/// (NetworkDevicesDumper) and tun and tap devices whose queues the tree
/// holds, the loopback has the addresses the
/// kernel gives it and no others, and no process outside the tree is in
/// it (the restore would part them). What is saved is whether the
/// loopback was up (its sysctls are NamespaceSysctlDumper's), the veth
/// devices and the routes; the namespace's sockets are the processes'
/// files. Firewall rules of its own are not saved.
enum NetworkNamespaceDumper {
    /// `tunQueues`: the tree's descriptors attached to each tun device of
    /// the namespace, by its name.
    static func dump(id: UInt64, of pid: Int32, tree: Set<Int32>, tunQueues: [String: [TunQueue]]) throws -> NamespaceImage {
        let name = "network namespace net:[\(id)] of pid \(pid)"
        let seen = try NamespaceEntry.run(in: .net, of: pid) { try LoopbackState.current() }
        let fresh = try FreshNetworkNamespace.state.get()
        let devices = seen.devices.filter { !fresh.devices.contains($0) }
        let expected = seen.up ? fresh.addressesWhenUp : []
        guard seen.addresses == expected else {
            let had = seen.addresses.isEmpty ? "no address" : seen.addresses.joined(separator: ", ")
            let made = expected.isEmpty ? "none" : expected.joined(separator: ", ")
            throw CheckpointError("the loopback device of the \(name) has \(had); one made again \(seen.up ? "up" : "down") has \(made), and crtool saves no other addresses")
        }
        try NamespaceOutsiders.refuse(.net, id: id, of: pid, tree: tree)
        var image = NamespaceImage(kind: .net, id: id, loopbackUp: seen.up, loopbackAddresses: seen.addresses)
        let (veths, routes, tuns) = try NetworkDevicesDumper.dump(devices, id: id, of: pid, name: name, tunQueues: tunQueues)
        image.veths = veths.isEmpty ? nil : veths
        image.routes = routes.isEmpty ? nil : routes
        image.tuns = tuns.isEmpty ? nil : tuns
        return image
    }

    /// Where `ip netns` names namespaces: each name a file the namespace
    /// is bind-mounted on, which keeps it alive with no process in it.
    static let namesDirectory = "/run/netns"

    /// The names `ip netns` gave namespace `id`.
    static func names(of id: UInt64) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: namesDirectory)) ?? []
        return names.sorted().filter { name in
            var st = stat()
            return stat("\(namesDirectory)/\(name)", &st) == 0 && UInt64(st.st_ino) == id
        }
    }
}

/// What `Loopback` tells of the calling thread's network namespace.
struct LoopbackState: Equatable {
    var devices: [String]
    var up: Bool
    var addresses: [String]

    static func current() throws -> LoopbackState {
        LoopbackState(devices: try Loopback.deviceNames(), up: try Loopback.isUp(), addresses: try Loopback.addresses())
    }
}

/// A network namespace made for the purpose and left at once: the devices
/// the kernel puts in every new one (lo, and the fallback devices of
/// tunnel modules loaded, sit0, tunl0 and the like), its sysctls, and the
/// addresses its loopback gets when set up (none for IPv6 where it is
/// disabled). A restore's namespaces have the same.
enum FreshNetworkNamespace {
    struct State {
        var devices: Set<String>
        var sysctls: [String: String]
        var addressesWhenUp: [String]
    }

    static let state: Result<State, Error> = Result {
        try NamespaceEntry.runInNew(.net) {
            let devices = try Loopback.deviceNames()
            // Before the loopback comes up, as a restore sets them.
            let sysctls = NamespaceSysctls.read(NamespaceSysctls.paths(for: .net) ?? [])
            try Loopback.setUp()
            return State(devices: Set(devices), sysctls: sysctls, addressesWhenUp: try Loopback.addresses())
        }
    }
}
