import Glibc
import Ptrace

/// Every descriptor of a process, handed to the kind that recognizes it.
/// Anything no kind recognizes stops the dump with the pid, the fd and
/// what it is named.
enum OpenFiles {
    static func collect(pid: Int32, system: SystemDescriptors, ghostLimit: UInt64, mappedObjects: Set<UInt64> = [],
                        tcpRepair: TCPRepairHold? = nil, keeper: ExternalKeeper? = nil,
                        externals: Set<String> = []) throws -> [FileDescriptorImage] {
        let context = try FileDumpContext(pid: pid, system: system, ghostLimit: ghostLimit)
        context.tcpRepair = tcpRepair
        context.mappedObjects = mappedObjects
        var result: [FileDescriptorImage] = []
        for fd in try ProcDirectory.fileDescriptors(pid: pid) {
            let link = "/proc/\(pid)/fd/\(fd)"
            let target = try ProcFile.link(link, pid: pid)
            let info = try FdInfo.read(pid: pid, fd: fd)
            var st = stat()
            guard stat(link, &st) == 0 else { throw SystemError("stat \(link)", pid: pid) }
            let probe = FileProbe(pid: pid, fd: fd, link: target, status: st, info: info)
            if target.hasSuffix(" (deleted)"), FileSystemMagic.of(link) == FileSystemMagic.secretMemory {
                throw FileKinds.unsupported(probe, what: "secret memory (memfd_secret), which no other process, crtool included, can read")
            }
            guard let handler = FileKinds.all.first(where: { $0.recognizes(probe) }) else {
                throw FileKinds.unsupported(probe, what: FileKinds.describe(target: target, socketProtocol: SocketProtocol.name(of: link)))
            }
            var image = FileDescriptorImage(fd: fd, kind: handler.kind, path: target,
                                            flags: info.flags & ~Int32(O_CLOEXEC),
                                            closeOnExec: info.flags & Int32(O_CLOEXEC) != 0,
                                            position: info.position)
            image.inode = probe.inode
            image.socketOwner = SocketOwnership.owner(of: probe, kind: handler.kind)
            do {
                let namespace = try SocketNamespace.ofTreesOwn(probe, context: context)
                image.networkNamespace = namespace?.id
                context.networkNamespace = namespace?.id
                try collectState(&image, probe: probe, handler: handler, namespace: namespace, context: context, keeper: keeper,
                                 externals: externals)
            } catch var e as SystemError where !e.operation.contains("fd \(fd)") {
                // A bare "pread at 0" tells the user nothing: name the descriptor.
                e.operation += " on fd \(fd) (\(target))"
                e.pid = e.pid ?? pid
                throw e
            }
            result.append(image)
        }
        return result
    }

    /// What a descriptor's kind saves, and what every kind has (locks, the
    /// owner of its signals). A socket of another network namespace is
    /// read from inside it; the keeper, started on first use, is started
    /// from outside, in crtool's namespaces.
    private static func collectState(_ image: inout FileDescriptorImage, probe: FileProbe, handler: any FileKind.Type,
                                     namespace: NetworkNamespace?, context: FileDumpContext, keeper: ExternalKeeper?,
                                     externals: Set<String>) throws {
        let pid = probe.pid, fd = probe.fd, target = probe.link
        if externals.contains(target) {
            image.external = true
            if probe.fileType == UInt32(S_IFCHR) {
                // What it was: the controlling terminal the restore gives
                // back is the one given in its place.
                PathFiles.noteDevice(&image, rdev: probe.rdev)
            }
        } else if let outside = try SocketNamespace.within(namespace, { try OutsideListeners.holder(of: probe, context: context) }) {
            image.heldOutside = outside
        } else if let keeper, let sharer = try SocketNamespace.within(namespace, { try SharedOutside.sharer(of: probe, context: context) }) {
            image.heldOutside = try keeper.hold(try context.local(fd), what: "pid \(pid) fd \(fd) (\(target), \(sharer))")
        } else {
            try SocketNamespace.within(namespace) { try handler.collect(&image, probe: probe, context: context) }
        }
        image.locks = FileLocks.collect(probe)
        image.owner = try SignalDrivenIO.owner(of: probe, kind: image.kind, context: context)
    }

    /// Gives descriptors that share one open file description the same
    /// `openFile` number, across every process of the image (kcmp).
    static func assignOpenFiles(_ processes: inout [ProcessImage]) throws {
        var next = 1
        // Only descriptors of the same inode can share a description. Per
        // inode, one descriptor of each description found so far, in
        // kcmp's order: a process that opened one file 5000 times took
        // 12 million kcmp calls (5.7 s frozen) when each was compared
        // with every one before it.
        var seen: [UInt64: [(pid: Int32, fd: Int32, id: Int)]] = [:]
        for p in processes.indices {
            for f in processes[p].files.indices {
                let file = processes[p].files[f]
                let pid = processes[p].pid
                var known = seen[file.inode] ?? []
                var low = 0, high = known.count
                var id: Int?
                while low < high {
                    let mid = (low + high) / 2
                    let order = try KernelCompare.fileOrder(pid, file.fd, known[mid].pid, known[mid].fd)
                    if order == 0 {
                        id = known[mid].id
                        break
                    }
                    if order < 0 { high = mid } else { low = mid + 1 }
                }
                if id == nil {
                    id = next
                    next += 1
                    known.insert((pid, file.fd, id!), at: low)
                    seen[file.inode] = known
                }
                processes[p].files[f].openFile = id!
            }
        }
    }

    /// Makes every descriptor of a process again, at its number. Open file
    /// descriptions already made for another descriptor (in this process
    /// or an earlier one) are copied, not made twice. The calls into the
    /// process are queued and run together (DescriptorBatch), a phase at a
    /// time and before any kind that injects calls of its own.
    static func restore(_ files: [FileDescriptorImage], context: FileRestoreContext) throws {
        let made = context.registry
        let batch = try DescriptorBatch(context: context)
        /// Descriptions first made by this process, by their number here.
        var madeHere: [Int: Int32] = [:]
        let phases = Set(files.compactMap { FileKinds.handler(for: $0.kind)?.phase }).sorted()
        for phase in phases {
            for f in files.sorted(by: { $0.fd < $1.fd }) {
                guard let handler = FileKinds.handler(for: f.kind) else {
                    throw CheckpointError("fd \(f.fd) of pid \(context.pid) is of kind \(f.kind.rawValue), which this crtool cannot restore")
                }
                guard handler.phase == phase else { continue }
                let joined = { try handler.joined(f, context: context) }
                if f.openFile != 0, let source = madeHere[f.openFile] {
                    try batch.copy(from: source, as: f, then: joined)
                    continue
                }
                if let holder = made.holder(of: f.openFile) {
                    try batch.install(try holder.pidfd.duplicate(holder.fd), as: f, then: joined)
                    continue
                }
                let recorded = { try made.record(f.openFile, pid: context.pid, fd: f.fd) }
                if let given = try made.inherited(for: f) {
                    try batch.install(given, as: f, then: recorded)
                } else if let outside = f.heldOutside {
                    try batch.install(try TakenBack.file(f, from: outside, pid: context.pid), as: f, then: recorded)
                } else {
                    if handler.opensInProcess(f) { try batch.flush() }
                    let installed = {
                        try recorded()
                        try handler.installed(f, context: context)
                    }
                    switch try made.making(in: f.networkNamespace, { try handler.open(f, context: context) }) {
                    case .local(let local):
                        try batch.install(try SocketOwnership.handOver(local, f), as: f, then: installed)
                    case .inProcess(let request):
                        try batch.open(request, as: f, then: installed)
                    case .remote(let r):
                        try batch.adopt(r, as: f, then: installed)
                    }
                }
                if f.openFile != 0 { madeHere[f.openFile] = f.fd }
            }
            try batch.flush()
        }
    }
}

/// Which process and descriptor already hold each re-made open file
/// description, so the next holder gets a copy of the same one.
final class OpenFileRegistry {
    struct Holder {
        var pidfd: PidFD
        var fd: Int32
    }
    private var holders: [Int: Holder] = [:]
    private var pidfds: [Int32: PidFD] = [:]
    /// Kind-specific state shared for the whole restore (see FileRestoreContext.shared).
    var shared: [String: Any] = [:]
    /// `restore --tcp-close`: TCP connections come back reset (ClosedTCPConnections).
    var closesTCPConnections = false
    /// `restore --inherit-fd`: crtool's descriptors given for files of the
    /// image (ExternalFiles).
    var inherited: [ExternalFiles.Inherited] = []
    /// Every process of the image, by pid, to inject into: sockets whose
    /// peer credentials must be a given process's are made by it
    /// (CredentialedPair).
    var injectors: [Int32: RemoteSyscall] = [:]
    /// crtool's memfd of each shared-memory object, by SharedMemoryImage.id.
    var sharedMemory: [UInt64: Int32] = [:]
    /// How processes born inside a user namespace take descriptors; nil
    /// when the tree has none.
    var courier: DescriptorCourier?
    /// Descriptors in crtool to close when the restore is over.
    private var localDescriptors: [Int32] = []
    /// Each process's /proc text files, as its descriptors and the path
    /// and flags they were opened with: one inside a user namespace opens
    /// them again once it is in it (`UserNamespaceMaker.enter`), as the
    /// kernel writes ids in them as their opener's namespace sees them.
    var procTextFiles: [Int32: [(fd: Int32, path: String, flags: Int32)]] = [:]
    /// The network namespaces made for the image's, by the id they had
    /// (NamespaceRestorer).
    var networkNamespaces: [UInt64: NetworkNamespace] = [:]
    /// Where the processes' paths are in crtool's mount namespace, for
    /// the files crtool itself makes or opens at a process's path.
    var hostPaths = HostPaths.crtools
    /// The namespace of the socket being made: what it leaves for later
    /// (its queues once all files are made, its FIN or reset at the
    /// release) runs there too.
    private var makingIn: NetworkNamespace?

    /// Runs `body` (making a file) inside the network namespace made for
    /// the image's `id`; in crtool's own for nil.
    func making<T>(in id: UInt64?, _ body: () throws -> T) throws -> T {
        guard let id else { return try body() }
        guard let namespace = networkNamespaces[id] else {
            throw CheckpointError("no network namespace was made for net:[\(id)]")
        }
        let outer = makingIn
        makingIn = namespace
        defer { makingIn = outer }
        return try namespace.entered(body)
    }

    /// `work`, to run later in the namespace of the socket being made now.
    private func inPlace(_ work: @escaping () throws -> Void) -> () throws -> Void {
        guard let namespace = makingIn else { return work }
        return { try namespace.entered(work) }
    }

    /// Work that needs every process's descriptors in place (files in
    /// flight that a process holds too), done once all are made.
    private var deferred: [() throws -> Void] = []

    /// Keeps `fd` (a descriptor in crtool) open until finish().
    func keep(_ fd: Int32) { localDescriptors.append(fd) }

    /// What a failed restore takes back that would outlive its processes
    /// (a message queue made by name), newest first.
    private var undo: [() -> Void] = []
    func undoOnFailure(_ work: @escaping () -> Void) { undo.append(work) }
    func undoMade() {
        for work in undo.reversed() { work() }
        undo = []
    }

    /// A copy of crtool's descriptor given for `f`, if one is.
    func inherited(for f: FileDescriptorImage) throws -> Int32? {
        guard let given = inherited.first(where: { ExternalFiles.matches(f, $0.file) }) else { return nil }
        let copy = fcntl(given.fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw SystemError("copying fd \(given.fd), given by --inherit-fd for \(given.file)") }
        return copy
    }

    /// A copy of `fd` (a socket crtool made, about to be planted) kept
    /// open until finish(), for work at the release.
    func keepCopy(of fd: Int32, what: String) throws -> Int32 {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { throw SystemError("duplicating \(what) for the end of the restore") }
        keep(copy)
        return copy
    }

    func afterAllFiles(_ work: @escaping () throws -> Void) { deferred.append(inPlace(work)) }

    /// Work for the moment the processes are let go, not before: what
    /// would speak to the world (a TCP connection leaving repair mode)
    /// waits until a failed restore can no longer kill what was made. It
    /// runs stage after stage, each in the order it was given, so that
    /// every connection is in its final state before any of them speaks.
    enum ReleaseStage: Int, CaseIterable {
        /// Letting the held packets go (the network lock).
        case packets
        /// Work done while every connection is still in repair mode (the
        /// FINs of half-closed ones).
        case inRepair
        /// Everything else: leaving repair mode, sending what waited.
        case last
    }

    private var atRelease: [ReleaseStage: [() throws -> Void]] = [:]

    private var atReleaseOnce: Set<String> = []

    func whenReleasing(_ stage: ReleaseStage = .last, _ work: @escaping () throws -> Void) {
        atRelease[stage, default: []].append(inPlace(work))
    }

    /// The same, for work many descriptors ask for and that must run once
    /// (removing the one nftables table all connections share): the first
    /// to ask under `key` gives it. It runs in crtool's network namespace,
    /// where the table is.
    func whenReleasing(_ stage: ReleaseStage = .last, once key: String, _ work: @escaping () throws -> Void) {
        if atReleaseOnce.insert(key).inserted { atRelease[stage, default: []].append(work) }
    }

    /// Runs the work kept for the release, stage by stage.
    func releasing() throws {
        for stage in ReleaseStage.allCases {
            var work = atRelease[stage] ?? []
            atRelease[stage] = nil
            try Self.run(&work)
        }
    }

    /// Runs the deferred work, in the order it was given.
    func allFilesMade() throws { try Self.run(&deferred) }

    /// Empties `work` before running it: each piece runs once, however
    /// often this is called.
    private static func run(_ work: inout [() throws -> Void]) throws {
        let taken = work
        work = []
        for w in taken { try w() }
    }

    func finish() {
        for fd in localDescriptors { close(fd) }
        localDescriptors = []
        shared = [:]
        undo = []
    }

    deinit { finish() }

    func holder(of openFile: Int) -> Holder? {
        openFile == 0 ? nil : holders[openFile]
    }

    func record(_ openFile: Int, pid: Int32, fd: Int32) throws {
        guard openFile != 0 else { return }
        if pidfds[pid] == nil { pidfds[pid] = try PidFD(pid: pid) }
        holders[openFile] = Holder(pidfd: pidfds[pid]!, fd: fd)
    }
}

extension FileKinds {
    /// `socketProtocol`: the kernel's name for a socket's protocol
    /// (NETLINK, PACKET, ...), which tells the user what it is.
    static func describe(target: String, socketProtocol: String? = nil) -> String {
        if target.hasPrefix("pipe:") { return "a pipe (\(target))" }
        if target.hasPrefix("socket:") { return "a\(socketProtocol.map { " \($0)" } ?? "") socket (\(target))" }
        if target.hasPrefix("anon_inode:") { return "an anonymous inode \(target.dropFirst("anon_inode:".count))" }
        return "an unsupported file (\(target))"
    }

    static func unsupported(_ p: FileProbe, what: String) -> CheckpointError {
        CheckpointError("pid \(p.pid) fd \(p.fd) is \(what); crtool cannot checkpoint this kind of file yet (see docs/SUPPORT.md)")
    }
}
