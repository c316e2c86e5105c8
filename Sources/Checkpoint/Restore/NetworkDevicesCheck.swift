import Ptrace

/// The veth, tun and tap devices and routes of a network namespace in namespaces.json,
/// checked before anything is made: names the kernel takes, each once,
/// MAC addresses, MTUs, addresses and routes that parse, a route's device
/// one the namespace will have. What is left to the kernel (a gateway it
/// cannot reach) fails the restore naming the route.
enum NetworkDevicesCheck {
    static func check(_ n: NamespaceImage, file: String, index i: Int) throws {
        guard n.kind == .net || (n.veths == nil && n.routes == nil && n.tuns == nil) else {
            throw ImageError(file: file, field: "[\(i)].\(n.veths != nil ? "veths" : n.tuns != nil ? "tuns" : "routes")", reason: "only a network namespace has devices and routes")
        }
        var insideNames: Set<String> = [Loopback.name]
        var outsideNames: Set<String> = []
        for (j, v) in (n.veths ?? []).enumerated() {
            for (side, device) in [("inside", v.inside), ("outside", v.outside)] {
                let field = "[\(i)].veths[\(j)].\(side)"
                try checkDevice(device, file: file, field: field)
                guard side == "inside" ? insideNames.insert(device.name).inserted : outsideNames.insert(device.name).inserted else {
                    throw ImageError(file: file, field: "\(field).name", reason: "\(device.name) is named twice")
                }
            }
            if let master = v.outsideMaster {
                guard deviceNameProblem(master) == nil else {
                    throw ImageError(file: file, field: "[\(i)].veths[\(j)].outsideMaster", reason: deviceNameProblem(master)!)
                }
            }
            for (k, route) in (v.outsideRoutes ?? []).enumerated() {
                try checkRoute(route, devices: [v.outside.name], file: file, field: "[\(i)].veths[\(j)].outsideRoutes[\(k)]")
            }
        }
        for (j, t) in (n.tuns ?? []).enumerated() {
            let field = "[\(i)].tuns[\(j)]"
            try checkTun(t, file: file, field: field)
            guard insideNames.insert(t.device.name).inserted else {
                throw ImageError(file: file, field: "\(field).device.name", reason: "\(t.device.name) is named twice")
            }
        }
        for (k, route) in (n.routes ?? []).enumerated() {
            try checkRoute(route, devices: insideNames, file: file, field: "[\(i)].routes[\(k)]")
        }
    }

    /// A tun or tap device of a namespace's, or of crtool's on a queue.
    static func checkTun(_ t: TunDeviceImage, file: String, field: String) throws {
        guard t.flags & ~TunDevice.knownFlags == 0, t.flags & TunDevice.persist == 0,
              (t.flags & (TunDevice.tun | TunDevice.tap)).nonzeroBitCount == 1 else {
            throw ImageError(file: file, field: "\(field).flags", reason: "0x\(String(t.flags, radix: 16)) is not how a tun or a tap device is made")
        }
        try checkDevice(t.device, file: file, field: "\(field).device", hasMAC: t.isTap)
    }

    /// The routes of crtool's namespace through a tun device it makes.
    static func checkRoutes(_ routes: [RouteImage], through device: String, file: String, field: String) throws {
        for (k, route) in routes.enumerated() {
            try checkRoute(route, devices: [device], file: file, field: "\(field)[\(k)]")
        }
    }

    /// `hasMAC`: false for a tun device, which has none.
    private static func checkDevice(_ d: NetworkDeviceImage, file: String, field: String, hasMAC: Bool = true) throws {
        if let problem = deviceNameProblem(d.name) { throw ImageError(file: file, field: "\(field).name", reason: problem) }
        guard d.name != Loopback.name else { throw ImageError(file: file, field: "\(field).name", reason: "lo is the loopback device's name") }
        if hasMAC {
            guard let mac = NetworkLink.hardwareAddress(d.hardwareAddress), mac[0] & 1 == 0 else {
                throw ImageError(file: file, field: "\(field).hardwareAddress", reason: "\"\(d.hardwareAddress)\" is not a unicast MAC address")
            }
        } else if !d.hardwareAddress.isEmpty {
            throw ImageError(file: file, field: "\(field).hardwareAddress", reason: "a tun device has no MAC address")
        }
        guard (68...65535).contains(d.mtu) else {
            throw ImageError(file: file, field: "\(field).mtu", reason: "\(d.mtu) is not an MTU a device takes (68 to 65535)")
        }
        for (k, a) in d.addresses.enumerated() {
            if case .failure(let p) = a.interfaceAddress(index: 1) {
                throw ImageError(file: file, field: "\(field).addresses[\(k)].\(p.field)", reason: p.reason)
            }
        }
    }

    private static func checkRoute(_ r: RouteImage, devices: Set<String>, file: String, field: String) throws {
        if case .failure(let p) = r.route(deviceIndex: { devices.contains($0) ? 1 : nil }) {
            throw ImageError(file: file, field: "\(field).\(p.field)", reason: p.reason)
        }
    }

    /// Why the kernel would not take `name` as a device's (nil when it would).
    static func deviceNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count) else { return "\(bytes.count) bytes is not a device's name (1 to 15)" }
        guard name != ".", name != "..", !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 32 || $0 == 127 }) else {
            return "\"\(name)\" is not a device's name (no /, :, blanks or control characters)"
        }
        return nil
    }
}
