import Foundation
import Glibc
import Ptrace

/// Makes a restored network namespace's veth pairs (and, inside it, its
/// tun devices: TunDeviceMaker) again, from crtool's
/// namespace: each pair is made with its inside end placed in the new
/// namespace, both ends with the names, MAC addresses and MTUs they had;
/// the outside end gets its addresses, becomes a port of its bridge again
/// and gets its routes; the inside ends get theirs, then the namespace
/// its routes. All this before any socket is made in the namespace, so
/// that sockets bound to its addresses can be.
enum VethMaker {
    /// Before any process is made: every outside end's name free in
    /// crtool's namespace and every bridge there. A dump that kills the
    /// tree removes the pairs; one of a tree killed otherwise goes when
    /// the kernel has taken its namespace apart, seconds after its
    /// processes: a name still taken is waited for `seconds`.
    static func requireRoom(_ namespaces: [NamespaceImage], seconds: Double) throws {
        let deadline = Date().addingTimeInterval(seconds)
        for n in namespaces {
            for v in n.veths ?? [] {
                guard DeviceNames.waitUntilFree(v.outside.name, until: deadline) else {
                    throw CheckpointError("the device \(v.outside.name), the outside end of \(v.inside.name) of net:[\(n.id)], is already in crtool's network namespace (the dumped tree still running, or another device of that name); remove it or restore where it is free")
                }
                if let master = v.outsideMaster, NetworkInterface.index(ofName: master) == 0 {
                    throw CheckpointError("the bridge \(master), of which \(v.outside.name) was a port, is not in crtool's network namespace; make it first (ip link add \(master) type bridge)")
                }
            }
        }
    }

    /// An outside end made down, to be set up when the tree is let go.
    struct Raising {
        var index: Int32
        var device: NetworkDeviceImage
        var routes: [RouteImage]
    }

    /// `saved`'s pairs and routes, for the namespace process `pid` made.
    /// The outside ends stay down, so that nothing reaches the namespace
    /// while its connections are made again in repair mode: the restore
    /// raises those that were up (`raise`) as it lets the tree go.
    /// `beforeUp` runs once every device is there and before any is
    /// given an address or set up (the devices' own sysctls, which the
    /// kernel reads as a device comes up: addr_gen_mode, accept_dad).
    static func make(_ saved: NamespaceImage, in pid: Int32, beforeUp: () throws -> Void) throws -> [Raising] {
        guard saved.veths != nil || saved.routes != nil || saved.tuns != nil else { return [] }
        var raising: [Raising] = []
        let path = NamespaceKind.net.path(pid: pid)
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw SystemError("open \(path)", pid: pid) }
        defer { close(target) }
        let host = try RouteNetlinkSocket()
        do {
            try makePairs(saved, in: target, through: host, made: &raising)
            try NamespaceEntry.run(in: .net, of: pid) { try TunDeviceMaker.make(saved, through: try RouteNetlinkSocket()) }
            try beforeUp()
            try NamespaceEntry.run(in: .net, of: pid) { try giveInsideEnds(saved) }
        } catch {
            remove(raising)
            throw error
        }
        return raising
    }

    private static func makePairs(_ saved: NamespaceImage, in target: Int32, through host: RouteNetlinkSocket, made raising: inout [Raising]) throws {
        for v in saved.veths ?? [] {
            try host.makeVethPair(near: end(v.outside), far: end(v.inside), farNamespace: target)
            let index = NetworkInterface.index(ofName: v.outside.name)
            guard index != 0 else { throw CheckpointError("the veth \(v.outside.name) made for net:[\(saved.id)] is gone") }
            raising.append(Raising(index: index, device: v.outside, routes: v.outsideRoutes ?? []))
            try addAddresses(of: v.outside, index: index, through: host)
            let master = v.outsideMaster.map(NetworkInterface.index(ofName:))
            if master == 0 { throw CheckpointError("the bridge \(v.outsideMaster!) of \(v.outside.name) is gone") }
            if let master, let name = v.outsideMaster {
                try host.setLink(index, up: false, master: master, what: "make \(v.outside.name) a port of \(name)")
            }
        }
    }

    /// From a thread inside the namespace: the inside ends' and the tun
    /// devices' addresses and state, then the namespace's routes.
    private static func giveInsideEnds(_ saved: NamespaceImage) throws {
        let inside = try RouteNetlinkSocket()
        let links = try inside.links()
        let index: (String) -> Int32? = { name in links.first { $0.name == name }?.index }
        for d in (saved.veths ?? []).map(\.inside) + (saved.tuns ?? []).map(\.device) {
            guard let i = index(d.name) else { throw CheckpointError("the device \(d.name) made in net:[\(saved.id)] is not there") }
            try giveAddressesAndState(of: d, index: i, through: inside, place: "net:[\(saved.id)]")
        }
        try addRoutes(saved.routes ?? [], through: inside, deviceIndex: index)
    }

    /// For a restore that failed: the pairs made, at once, rather than
    /// when the kernel takes the dead namespace apart (removing an outside
    /// end removes its inside end). One already gone is no error.
    static func remove(_ ends: [Raising]) {
        guard !ends.isEmpty, let host = try? RouteNetlinkSocket() else { return }
        for end in ends { try? host.deleteLink(end.index, what: "remove \(end.device.name)") }
    }

    /// Sets the outside ends that were up up, and gives them their routes
    /// (a route needs its device up).
    static func raise(_ ends: [Raising]) throws {
        guard !ends.isEmpty else { return }
        let host = try RouteNetlinkSocket()
        for end in ends where end.device.up {
            try host.setLink(end.index, up: true, what: "set \(end.device.name) up")
            try addRoutes(end.routes, through: host) { $0 == end.device.name ? end.index : nil }
        }
    }

    private static func end(_ d: NetworkDeviceImage) -> VethEnd {
        // NetworkDevicesCheck passed the address.
        VethEnd(name: d.name, hardwareAddress: NetworkLink.hardwareAddress(d.hardwareAddress) ?? [], mtu: d.mtu)
    }

    /// A device's addresses, then up or down as it was.
    static func giveAddressesAndState(of d: NetworkDeviceImage, index: Int32, through socket: RouteNetlinkSocket, place: String) throws {
        try addAddresses(of: d, index: index, through: socket)
        try socket.setLink(index, up: d.up, what: "set \(d.name) of \(place) \(d.up ? "up" : "down")")
    }

    private static func addAddresses(of d: NetworkDeviceImage, index: Int32, through socket: RouteNetlinkSocket) throws {
        for a in d.addresses {
            try socket.add(try a.interfaceAddress(index: index).get(), what: "add the address \(a.address) to \(d.name)")
        }
    }

    /// Routes without a gateway first: a gateway is reached through one.
    static func addRoutes(_ routes: [RouteImage], through socket: RouteNetlinkSocket, deviceIndex: (String) -> Int32?) throws {
        for r in routes.filter({ $0.gateway == nil }) + routes.filter({ $0.gateway != nil }) {
            try socket.add(try r.route(deviceIndex: deviceIndex).get(), what: "add the route \(r.text)")
        }
    }
}
