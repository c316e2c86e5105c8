import Glibc
import Ptrace

/// Makes a restored network namespace's tun and tap devices again, from
/// a thread inside it (and those of crtool's namespace, HostTunDevices):
/// each made persistent through a file opened for the purpose and let go, so that it can be given its MAC address, MTU,
/// addresses and routes before the tree's queues attach to it
/// (TunFiles), the first of which takes the persistence back from one
/// that had none.
enum TunDeviceMaker {
    static func make(_ saved: NamespaceImage, through socket: RouteNetlinkSocket) throws {
        for t in saved.tuns ?? [] {
            try make(t, what: "the \(t.isTap ? "tap" : "tun") device \(t.device.name) of net:[\(saved.id)]", through: socket)
        }
    }

    /// One device, in the calling thread's namespace, with its MTU and a
    /// tap's MAC address; persistent until a queue takes that back.
    static func make(_ t: TunDeviceImage, what: String, through socket: RouteNetlinkSocket) throws {
        let fd = open(TunDevice.path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(TunDevice.path) to make \(what)") }
        defer { close(fd) }
        do {
            try TunDevice.attach(fd, to: t.device.name, flags: t.flags)
            try TunDevice.setPersistent(fd, true)
            if let uid = t.owner { try TunDevice.setOwner(fd, uid: uid) }
            if let gid = t.group { try TunDevice.setGroup(fd, gid: gid) }
        } catch let e as SystemError {
            throw CheckpointError("cannot make \(what): \(e)")
        }
        let index = NetworkInterface.index(ofName: t.device.name)
        guard index != 0 else { throw CheckpointError("\(what) made is not there") }
        // NetworkDevicesCheck passed the address.
        let mac = t.isTap ? NetworkLink.hardwareAddress(t.device.hardwareAddress) : nil
        try socket.setLink(index, hardwareAddress: mac, mtu: t.device.mtu, what: "give \(what) its MTU\(t.isTap ? " and MAC address" : "")")
    }
}
