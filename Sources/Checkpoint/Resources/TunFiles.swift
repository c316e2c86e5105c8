import Glibc
import Ptrace

/// Files of /dev/net/tun: the queues through which VPN clients, user-mode
/// network stacks and virtual machine monitors read and write a tun (IP)
/// or tap (Ethernet) device's packets. A queue is saved as the device it
/// is attached to and the flags it was attached with, its virtio header
/// size and send buffer; the restore opens /dev/net/tun again in the
/// device's network namespace and attaches it by name.
///
/// The device is the namespace's: one of a namespace of the tree's is
/// saved and made again with it (NetworkDevicesDumper, TunDeviceMaker).
/// One of crtool's namespace that outlives the tree (persistent, as
/// `ip tuntap add` makes it) is joined as it is found at the restore; one
/// that goes with the tree's last queue (a VPN client's tun0) is saved
/// with its addresses and routes on its first queue (HostTunDevices) and
/// made again there. Packets queued and not read yet are lost, as
/// on a wire; offloads set with TUNSETOFFLOAD are not saved, so a device
/// made again sends packets without them.
enum TunFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.tun

    static func recognizes(_ p: FileProbe) -> Bool {
        guard p.fileType == UInt32(S_IFCHR), !PathFiles.isPathOnly(p) else { return false }
        let number = DeviceNumber(p.rdev)
        return number.major == UInt64(TunDevice.major) && number.minor == UInt64(TunDevice.minor)
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let fd = try context.local(p.fd)
        image.device = p.rdev
        guard let interface = try TunDevice.interface(of: fd) else {
            image.tunFile = TunFileState()
            return
        }
        let what = "pid \(p.pid) fd \(p.fd), a queue of the \(interface.flags & TunDevice.tap != 0 ? "tap" : "tun") device \(interface.name)"
        var state = TunFileState(interface: interface.name, flags: interface.flags)
        let headerSize = try TunDevice.virtioHeaderSize(of: fd)
        if headerSize != TunDevice.defaultVirtioHeaderSize { state.virtioHeaderSize = headerSize }
        let sendBuffer = try TunDevice.sendBuffer(of: fd)
        if sendBuffer != TunDevice.defaultSendBuffer { state.sendBuffer = sendBuffer }
        if state.isTap, try TunDevice.filterLength(of: fd) > 0 {
            throw FileKinds.unsupported(p, what: "\(what), with a packet filter attached (TUNATTACHFILTER), which the kernel does not give back whole")
        }
        image.tunFile = state
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.tunFile else {
            throw CheckpointError("fd \(f.fd) of pid \(context.pid) is a file of \(TunDevice.path) without its state in the image")
        }
        let fd = Glibc.open(TunDevice.path, (f.flags & (O_ACCMODE | O_NONBLOCK)) | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(TunDevice.path) for fd \(f.fd)", pid: context.pid) }
        guard let name = state.interface else { return .local(fd) }
        let what = "fd \(f.fd) of pid \(context.pid) to the \(state.isTap ? "tap" : "tun") device \(name)"
        do {
            try TunDevice.attach(fd, to: name, flags: state.attachFlags)
            // The device was made persistent to be given its addresses
            // first (TunDeviceMaker); it goes with its last queue again.
            if state.flags & TunDevice.persist == 0 { try TunDevice.setPersistent(fd, false) }
            if let size = state.virtioHeaderSize { try TunDevice.setVirtioHeaderSize(fd, size) }
            if let bytes = state.sendBuffer { try TunDevice.setSendBuffer(fd, bytes) }
            return .local(fd)
        } catch let e as SystemError {
            close(fd)
            throw CheckpointError("cannot attach \(what): \(e)")
        }
    }

    /// Before any process is made: the persistent devices of crtool's
    /// namespace that queues attach to are there, of the same type.
    static func requireDevices(_ processes: [ProcessImage]) throws {
        let made = Set(HostTunDevices.saved(in: processes).map(\.device.device.name))
        let wanted = processes.flatMap { p in
            p.files.compactMap { f -> (pid: Int32, fd: Int32, state: TunFileState, name: String)? in
                guard f.networkNamespace == nil, let state = f.tunFile, let name = state.interface, !made.contains(name) else { return nil }
                return (p.pid, f.fd, state, name)
            }
        }
        guard !wanted.isEmpty else { return }
        let links = try RouteNetlinkSocket().links()
        for w in wanted {
            let type = w.state.isTap ? "tap" : "tun"
            guard let link = links.first(where: { $0.name == w.name }), let tun = link.tun else {
                throw CheckpointError("fd \(w.fd) of pid \(w.pid) was attached to the persistent \(type) device \(w.name) of crtool's network namespace, which is not there now; make it again (ip tuntap add \(w.name) mode \(type)) with its addresses and routes, then restore")
            }
            guard tun.type == w.state.flags & (TunDevice.tun | TunDevice.tap) else {
                throw CheckpointError("fd \(w.fd) of pid \(w.pid) was attached to the \(type) device \(w.name) of crtool's network namespace, and \(w.name) is now a \(tun.type == TunDevice.tap ? "tap" : "tun") device")
            }
        }
    }
}
