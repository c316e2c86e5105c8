import Foundation
import Glibc
import Ptrace

/// Tun devices of crtool's network namespace that go with the tree's last
/// queue, as a VPN client's tun0 made by the client itself does: saved at
/// the dump on the first of their queues with their addresses and the
/// routes of crtool's main table through them, and made again in crtool's
/// namespace by the restore before any process is, so that sockets bound
/// to their addresses can be made. Made persistent until the first queue
/// attaches (TunFiles), and removed again if the restore fails before.
enum HostTunDevices {
    static let place = "network namespace crtool is in"

    /// At the dump, once the descriptors' open files are known.
    static func save(_ processes: inout [ProcessImage]) throws {
        // A persistent device outlives the tree: TunFiles joins it.
        let queues = TunQueue.byDevice(in: processes, namespace: nil).filter { _, held in
            processes[held[0].process].files[held[0].file].tunFile!.flags & TunDevice.persist == 0
        }
        guard !queues.isEmpty else { return }
        let host = try RouteNetlinkSocket()
        let links = try host.links(), addresses = try host.addresses(), routes = try host.routes()
        for (name, held) in queues.sorted(by: { $0.key < $1.key }) {
            guard let link = links.first(where: { $0.name == name }), let tun = link.tun else {
                throw CheckpointError("the tun device \(name) of the \(place), which pid \(held[0].pid) fd \(held[0].fd) is attached to, went while it was read")
            }
            let device = try NetworkDevicesDumper.tunDevice(link, tun, addresses: addresses, queues: held, name: place)
            let devices = [link.index: name]
            var through: [RouteImage] = []
            for route in routes where route.outputIndex == link.index && route.table != Route.localTable && route.protocolNumber != Route.kernelProtocol {
                guard route.table == Route.mainTable else {
                    throw CheckpointError("the \(place) has the route \(NetworkDevicesDumper.image(of: route, devices: devices).text) through the tun device \(name) in routing table \(route.table); crtool saves only the main table's routes")
                }
                through.append(try NetworkDevicesDumper.routeImage(route, devices: devices, where: "the \(place)"))
            }
            let first = held[0]
            processes[first.process].files[first.file].tunFile?.device = device
            processes[first.process].files[first.file].tunFile?.routes = through.isEmpty ? nil : through
        }
    }

    /// The devices an image makes, with the queue that carries each.
    static func saved(in processes: [ProcessImage]) -> [(pid: Int32, fd: Int32, device: TunDeviceImage, routes: [RouteImage])] {
        processes.flatMap { p in
            p.files.compactMap { f in
                guard f.networkNamespace == nil, let state = f.tunFile, let device = state.device else { return nil }
                return (p.pid, f.fd, device, state.routes ?? [])
            }
        }
    }

    /// The addresses the devices will have, which the image's sockets may
    /// be bound to before they are there.
    static func addresses(in processes: [ProcessImage]) -> Set<String> {
        Set(saved(in: processes).flatMap { $0.device.device.addresses.map { String($0.address.prefix { $0 != "/" }) } })
    }

    /// Before any process is made: each name free. The dumped tree's
    /// device went with it when it was killed; one of a tree killed
    /// otherwise goes as its last queue is closed: waited for `seconds`.
    static func requireRoom(_ processes: [ProcessImage], seconds: Double) throws {
        let deadline = Date().addingTimeInterval(seconds)
        for s in saved(in: processes) where !DeviceNames.waitUntilFree(s.device.device.name, until: deadline) {
            throw CheckpointError("the \(s.device.isTap ? "tap" : "tun") device \(s.device.device.name), which fd \(s.fd) of pid \(s.pid) made, is already in the \(place) (the dumped tree still running, or another device of that name); remove it or restore where it is free")
        }
    }

    /// Makes every device, with its addresses, state and routes; returns
    /// the names made, for `remove`.
    static func make(_ processes: [ProcessImage]) throws -> [String] {
        let all = saved(in: processes)
        guard !all.isEmpty else { return [] }
        let host = try RouteNetlinkSocket()
        var made: [String] = []
        do {
            for s in all {
                let d = s.device.device
                try TunDeviceMaker.make(s.device, what: "the \(s.device.isTap ? "tap" : "tun") device \(d.name) of the \(place)", through: host)
                made.append(d.name)
                let index = NetworkInterface.index(ofName: d.name)
                try VethMaker.giveAddressesAndState(of: d, index: index, through: host, place: "the \(place)")
                try VethMaker.addRoutes(s.routes, through: host) { $0 == d.name ? index : nil }
            }
        } catch {
            remove(made)
            throw error
        }
        return made
    }

    /// For a restore that failed: the devices made that are still there
    /// (one a queue attached to went when its process was killed).
    static func remove(_ names: [String]) {
        guard !names.isEmpty, let host = try? RouteNetlinkSocket(), let links = try? host.links() else { return }
        for name in names {
            guard let link = links.first(where: { $0.name == name }), link.tun != nil else { continue }
            try? host.deleteLink(link.index, what: "remove \(name)")
        }
    }
}
