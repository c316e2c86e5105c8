import Glibc
import Ptrace

/// The devices, addresses and routes of a network namespace of the tree's
/// beyond its loopback: veth devices whose other end is in crtool's
/// namespace (what a container runtime or `ip link add ... netns` makes),
/// with both ends' addresses, the bridge the outside end is a port of,
/// and the routes of the namespace's main table the kernel did not make.
/// Tun and tap devices whose queues are all files of the tree are saved
/// with how the driver made them. Anything else (another kind of device,
/// a veth into a third namespace, policy routing) is refused by name:
/// the restore could not make it.
enum NetworkDevicesDumper {
    /// What the namespace shows of itself, read from inside it.
    struct Inside {
        var links: [NetworkLink]
        var addresses: [InterfaceAddress]
        var routes: [Route]
        /// The id the namespace gives crtool's; nil when it has no device
        /// to find the other end of.
        var crtoolNamespaceID: Int32?
    }

    /// What crtool's namespace shows, read only for a namespace with veth
    /// devices to find the other ends of: a host's routing table may be
    /// large.
    struct Outside {
        var links: [NetworkLink]
        var addresses: [InterfaceAddress]
        var routes: [Route]
        /// The id crtool's namespace gives the tree's.
        var namespaceID: Int32

        init(tree pid: Int32) throws {
            let path = NamespaceKind.net.path(pid: pid)
            let own = open(path, O_RDONLY | O_CLOEXEC)
            guard own >= 0 else { throw SystemError("open \(path)", pid: pid) }
            defer { close(own) }
            let host = try RouteNetlinkSocket()
            links = try host.links()
            addresses = try host.addresses()
            routes = try host.routes()
            namespaceID = try host.namespaceID(of: own)
        }
    }

    /// `tunQueues`: by device name, the tree's descriptors attached to
    /// each tun device of the namespace.
    static func dump(_ extra: [String], id: UInt64, of pid: Int32, name: String,
                     tunQueues: [String: [TunQueue]]) throws -> (veths: [VethImage], routes: [RouteImage], tuns: [TunDeviceImage]) {
        let crtools = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        guard crtools >= 0 else { throw SystemError("open /proc/self/ns/net") }
        defer { close(crtools) }
        let inside = try NamespaceEntry.run(in: .net, of: pid) { () throws -> Inside in
            let socket = try RouteNetlinkSocket()
            return Inside(links: try socket.links(), addresses: try socket.addresses(), routes: try socket.routes(),
                          crtoolNamespaceID: extra.isEmpty ? nil : try socket.namespaceID(of: crtools))
        }
        var veths: [VethImage] = []
        var tuns: [TunDeviceImage] = []
        var saved: [Int32: String] = [:]
        let outside = inside.links.contains { extra.contains($0.name) && $0.kind == "veth" } ? try Outside(tree: pid) : nil
        for deviceName in extra {
            guard let link = inside.links.first(where: { $0.name == deviceName }) else {
                throw CheckpointError("the device \(deviceName) of the \(name) went while it was read")
            }
            if let tun = link.tun {
                tuns.append(try tunDevice(link, tun, addresses: inside.addresses, queues: tunQueues[deviceName] ?? [], name: name))
                saved[link.index] = link.name
                continue
            }
            guard let outside, link.kind == "veth", link.peerNamespaceID == inside.crtoolNamespaceID, let peerIndex = link.peerIndex,
                  let peer = outside.links.first(where: { $0.index == peerIndex }), peer.kind == "veth",
                  peer.peerIndex == link.index, peer.peerNamespaceID == outside.namespaceID else {
                let what = link.kind.map { "a \($0) device" } ?? "a device"
                let why = link.kind == "veth" ? "its other end is not in crtool's network namespace" : "crtool makes again only veth devices whose other end is in its own network namespace"
                throw CheckpointError("the \(name) has \(what) \(deviceName): \(why)")
            }
            let outsideMaster = try peer.masterIndex.map { index in
                guard let master = outside.links.first(where: { $0.index == index }), master.kind == "bridge" else {
                    throw CheckpointError("the veth \(peer.name) of crtool's namespace, the other end of \(deviceName) of the \(name), is a port of a device that is not a bridge; crtool makes again only a port of a bridge")
                }
                return master.name
            }
            let outsideRoutes = try outside.routes.filter { $0.outputIndex == peer.index && $0.table == Route.mainTable && $0.protocolNumber != Route.kernelProtocol }
                .map { try routeImage($0, devices: [peer.index: peer.name], where: "crtool's namespace") }
            veths.append(VethImage(inside: device(link, addresses: inside.addresses), outside: device(peer, addresses: outside.addresses),
                                   outsideMaster: outsideMaster, outsideRoutes: outsideRoutes.isEmpty ? nil : outsideRoutes))
            saved[link.index] = link.name
        }
        for link in inside.links where link.name == Loopback.name { saved[link.index] = link.name }
        var routes: [RouteImage] = []
        for route in inside.routes where route.table != Route.localTable && route.protocolNumber != Route.kernelProtocol {
            guard route.table == Route.mainTable else {
                throw CheckpointError("the \(name) has the route \(image(of: route, devices: saved).text) in routing table \(route.table); crtool saves only the main table's routes")
            }
            routes.append(try routeImage(route, devices: saved, where: "the \(name)"))
        }
        return (veths, routes, tuns)
    }

    /// A tun or tap device, when every queue attached to it is a file of
    /// the tree's (`queues`): one held outside would be cut off
    /// from the device made again, and a detached queue of a multi-queue
    /// device is not told apart from a file never attached.
    static func tunDevice(_ link: NetworkLink, _ tun: TunLinkInfo, addresses: [InterfaceAddress], queues: [TunQueue],
                          name: String) throws -> TunDeviceImage {
        // Descriptors that share an open file are one queue.
        let held = Set(queues.map(\.openFile)).count
        let what = "the \(tun.type == TunDevice.tap ? "tap" : "tun") device \(link.name) of the \(name)"
        guard tun.detachedQueues == 0 else {
            throw CheckpointError("\(what) has \(tun.detachedQueues) queue\(tun.detachedQueues == 1 ? "" : "s") detached (TUNSETQUEUE); crtool cannot tell a detached queue's file from one never attached")
        }
        // A device of one queue exists unattached only when persistent.
        let attached = tun.attachedQueues.map(Int.init) ?? (tun.persistent ? held : 1)
        guard attached == held else {
            let tree = queues.isEmpty ? "" : " (\(queues.map { "pid \($0.pid) fd \($0.fd)" }.joined(separator: ", ")))"
            throw CheckpointError("\(what) has \(attached) queue\(attached == 1 ? "" : "s") attached, \(held) of them files of the tree\(tree); a process outside the tree holds the others (checkpoint the tree that holds them all)")
        }
        guard tun.type == TunDevice.tun || tun.type == TunDevice.tap else {
            throw CheckpointError("\(what) is of type \(tun.type), neither tun nor tap")
        }
        return TunDeviceImage(device: device(link, addresses: addresses), flags: tun.creationFlags, persistent: tun.persistent,
                              owner: tun.owner, group: tun.group)
    }

    static func device(_ link: NetworkLink, addresses: [InterfaceAddress]) -> NetworkDeviceImage {
        let own = addresses.filter { $0.index == link.index && !$0.isIPv6LinkLocal }.map { a in
            AddressImage(address: a.text, scope: a.scope, flags: a.flags, broadcast: a.broadcast.flatMap(IPAddressText.text),
                         label: a.label == link.name ? nil : a.label)
        }
        return NetworkDeviceImage(name: link.name, hardwareAddress: NetworkLink.text(ofHardwareAddress: link.hardwareAddress),
                                  mtu: link.mtu, up: link.isUp, addresses: own)
    }

    /// A route of one of `devices` (or of none, as a blackhole's); refused
    /// when it has several next hops, matches by source or goes out of a
    /// device not saved.
    static func routeImage(_ route: Route, devices: [Int32: String], where place: String) throws -> RouteImage {
        let saved = image(of: route, devices: devices)
        guard !route.isMultipath, route.sourceLength == 0 else {
            throw CheckpointError("\(place) has the route \(saved.text) with \(route.isMultipath ? "several next hops" : "a source prefix"); crtool saves only routes of one next hop matched by destination")
        }
        if let index = route.outputIndex, devices[index] == nil {
            throw CheckpointError("\(place) has the route \(saved.text) through a device crtool does not make again")
        }
        return saved
    }

    /// `route` as the image holds it; a device not in `devices` by its
    /// index ("#7"), for messages.
    static func image(of route: Route, devices: [Int32: String]) -> RouteImage {
        RouteImage(family: route.family == AF_INET6 ? "inet6" : "inet", destination: route.destinationText,
                   gateway: route.gateway.flatMap(IPAddressText.text), device: route.outputIndex.map { devices[$0] ?? "#\($0)" },
                   protocolNumber: route.protocolNumber, scope: route.scope, type: route.type, metric: route.priority,
                   preferredSource: route.preferredSource.flatMap(IPAddressText.text))
    }

    /// Once the tree is killed: the outside ends of its veth pairs, which
    /// would otherwise stay until the kernel has taken the namespace apart
    /// (seconds), or for good when something else keeps it (a name `ip
    /// netns` gave it), and hold their names against the restore. Each is
    /// removed only if it is still the veth saved, with its MAC address;
    /// removing one removes its inside end too.
    static func removeOutsideEnds(of namespaces: [NamespaceImage]) {
        let veths = namespaces.flatMap { $0.veths ?? [] }
        guard !veths.isEmpty, let host = try? RouteNetlinkSocket(), let links = try? host.links() else { return }
        for v in veths {
            guard let link = links.first(where: { $0.name == v.outside.name }), link.kind == "veth",
                  NetworkLink.text(ofHardwareAddress: link.hardwareAddress) == v.outside.hardwareAddress else { continue }
            try? host.deleteLink(link.index, what: "remove \(v.outside.name)")
        }
    }
}
