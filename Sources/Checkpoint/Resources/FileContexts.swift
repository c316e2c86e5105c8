import Glibc
import Ptrace

/// Dump-side help for file kinds: copies of the target's descriptors in
/// crtool (pidfd_getfd), taken once and closed at the end.
final class FileDumpContext {
    let pid: Int32
    /// Who else holds what, read once for the whole dump.
    let system: SystemDescriptors
    /// The most bytes of a deleted file's content the dump saves.
    let ghostLimit: UInt64
    /// Shared-memory objects any process of the tree maps
    /// (SharedMemoryImage.id): a deleted file among them is saved with the
    /// mapping, once.
    var mappedObjects: Set<UInt64> = []
    /// Where established TCP connections are held in repair mode; nil
    /// when the dump was not asked to carry them (--tcp-established).
    var tcpRepair: TCPRepairHold?
    /// The network namespace of the socket being read, when it is one of
    /// the tree's own: no packet from outside reaches such a namespace
    /// (NetworkNamespaceDumper saves only those that hold no device but
    /// their loopback and no process but the tree's), so its connections
    /// are not held by the network lock.
    var networkNamespace: UInt64?
    /// The nftables table holding the packets of the socket being read.
    var packetLock: NetworkLock? { networkNamespace == nil ? tcpRepair?.lock : nil }
    private let pidfd: PidFD?
    private var copies: [Int32: Int32] = [:]

    init(pid: Int32, system: SystemDescriptors, ghostLimit: UInt64 = DeletedFiles.defaultLimit) throws {
        self.pid = pid
        self.system = system
        self.ghostLimit = ghostLimit
        pidfd = try PidFD(pid: pid)
    }

    /// For descriptors crtool holds itself (files in flight it received by
    /// peeking at a socket's queue): `local(fd)` is `fd`.
    init(crtool: Void, system: SystemDescriptors) {
        pid = getpid()
        self.system = system
        ghostLimit = DeletedFiles.defaultLimit
        pidfd = nil
    }

    deinit { for fd in copies.values { close(fd) } }

    /// crtool's own descriptor for the target's `fd` (do not close it).
    func local(_ fd: Int32) throws -> Int32 {
        guard let pidfd else { return fd }
        if let c = copies[fd] { return c }
        let c = try pidfd.duplicate(fd)
        copies[fd] = c
        return c
    }
}

/// Restore-side help for file kinds: injection into the target, and a way
/// to plant a descriptor made in crtool into the target's table (the
/// target takes it with pidfd_getfd from crtool).
final class FileRestoreContext {
    let pid: Int32
    let inj: RemoteSyscall
    /// State kinds share across descriptors and processes for the whole
    /// restore (a pipe's other end), kept by the registry. Changed in
    /// place: a get-then-set would copy the whole dictionary for every
    /// socket made, quadratic in a restore of thousands of them.
    var shared: [String: Any] {
        get { registry.shared }
        _modify { yield &registry.shared }
    }
    let registry: OpenFileRegistry

    /// `path` of the process's as crtool reaches it (HostPaths), for a
    /// file crtool makes or opens itself; `what` names the file in the
    /// error for one inside a file system the restore makes anew.
    func hostPath(_ path: String, for what: @autoclosure () -> String) throws -> String {
        guard let found = registry.hostPaths.of(path, pid: pid) else {
            throw CheckpointError("\(what()) is \(path), inside a file system the mount namespace of pid \(pid) has of its own; crtool makes or opens it from its own namespace, where that file system is not")
        }
        return found
    }
    /// With --shell-job: the device of the terminal the tree was started
    /// on; descriptors of it get crtool's own terminal (/dev/tty) instead.
    var shellTerminal: UInt64?
    /// Every image descriptor of this process, by number (epoll needs them).
    let files: [Int32: FileDescriptorImage]
    /// The credentials the process will have, which it gets only at the
    /// end: a kind that acts as the process before then (a stream to the
    /// journal, which files lines by their sender's user) uses them.
    var credentials: Credentials?
    /// The target's pidfd of crtool, once parked.
    private(set) var crtoolPidFD: Int64?
    /// Where the target keeps its pidfd of crtool: at or above this, above every image fd.
    let parking: Int32

    init(pid: Int32, inj: RemoteSyscall, files: [FileDescriptorImage], registry: OpenFileRegistry) {
        self.pid = pid
        self.registry = registry
        self.inj = inj
        self.files = Dictionary(files.map { ($0.fd, $0) }, uniquingKeysWith: { a, _ in a })
        parking = (files.map(\.fd).max() ?? 2) + 1
    }

    /// Installs crtool's descriptor `local` into the target; returns the
    /// target's new descriptor number.
    func install(_ local: Int32) throws -> Int64 {
        try Self.install(local, through: try crtoolDescriptor(), courier: registry.courier, with: inj)
    }

    /// As `install`, through the target's pidfd of crtool at `crtool`,
    /// without a context (entering a namespace before any file is made);
    /// for a process born inside a user namespace, `crtool` is its socket
    /// from `courier` instead.
    static func install(_ local: Int32, through crtool: Int64, courier: DescriptorCourier?, with inj: RemoteSyscall) throws -> Int64 {
        let pid = inj.tracee.pid
        if let courier, try courier.isNeeded(for: pid) {
            return try courier.install(local, through: crtool, with: inj)
        }
        let r = try inj.call(Syscall.pidfdGetfd, UInt64(crtool), UInt64(local), 0)
        if r < 0 {
            throw SystemError("installing a descriptor in pid \(pid) with pidfd_getfd", pid: pid, errno: Int32(-r))
        }
        return r
    }

    /// The target's pidfd of crtool: the one it inherited at 3 (every
    /// process the restore makes does, `GatedProcess.spawn(handing:)`)
    /// until `parkCrtoolDescriptor` moves it above the image's
    /// descriptors, which the files are made among.
    func crtoolDescriptor() throws -> Int64 {
        crtoolPidFD ?? Self.inheritedCrtoolPidFD
    }

    static let inheritedCrtoolPidFD: Int64 = 3

    /// Moves the inherited pidfd of crtool to the lowest free number at or
    /// above `parking`, where no image descriptor goes, and closes every
    /// other descriptor the stub had: the image's are made next. The
    /// context then owns the pidfd (`finish` closes it).
    func parkCrtoolDescriptor() throws {
        precondition(crtoolPidFD == nil, "pid \(pid) has parked its pidfd of crtool already")
        let parked = try inj.checked("parking the pidfd of crtool", Syscall.fcntl, UInt64(Self.inheritedCrtoolPidFD), UInt64(F_DUPFD_CLOEXEC), UInt64(parking))
        _ = try inj.checkedAll([("closing the stub's descriptors", SyscallRequest(Syscall.closeRange, 0, UInt64(parked - 1), 0)),
                                ("closing the stub's descriptors", SyscallRequest(Syscall.closeRange, UInt64(parked + 1), UInt64(UInt32.max), 0))])
        crtoolPidFD = Int64(parked)
    }

    /// Closes the target's pidfd of crtool.
    func finish() throws {
        if let fd = crtoolPidFD {
            try inj.checked("close", Syscall.close, UInt64(fd))
            crtoolPidFD = nil
        }
    }
}
