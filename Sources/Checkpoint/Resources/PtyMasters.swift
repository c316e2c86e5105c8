import Foundation
import Glibc
import Ptrace

/// Pseudo-terminal masters held by the tree (a terminal emulator, script,
/// an ssh server). The slave side is an ordinary terminal path,
/// /dev/pts/N, reopened by path once its master exists again, so every
/// master is made before any process gets its descriptors back. A master
/// of a container's own devpts (one its mount namespace mounted, made
/// anew by the restore) is made in the new instance, through the ptmx of
/// its holder's root, once the namespace exists; its slave is then
/// /dev/pts/N of the container.
enum PtyMasters: FileKind {
    static let kind = FileDescriptorImage.Kind.ptyMaster

    /// Any ptmx, wherever it is reached: /dev/ptmx, a devpts's own, or a
    /// devpts mounted elsewhere.
    static func recognizes(_ p: FileProbe) -> Bool {
        let number = DeviceNumber(p.rdev)
        return p.fileType == UInt32(S_IFCHR) && number.major == 5 && number.minor == 2
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let fd = try context.local(p.fd)
        let index = try TerminalOps.ptyIndex(fd)
        let queues: PtyQueues
        do {
            queues = try PtyQueues.copy(master: fd)
        } catch let full as PtyQueues.Full {
            throw PassingState.ptyUnread("pid \(p.pid) fd \(p.fd) is the master of pty \(index), whose \(full.reader) has not read a full line discipline (\(PtyQueues.lineDisciplineSize) bytes) of what was written to it; more may wait in the kernel's buffers before it than crtool can be sure to put back")
        } catch {
            throw CheckpointError("reading the bytes inside pty \(index), whose master is pid \(p.pid) fd \(p.fd): \(error)")
        }
        image.pty = PtyState(index: index,
                             attributes: Data(try TerminalOps.attributes(fd)),
                             windowSize: Data(try TerminalOps.windowSize(fd)),
                             devpts: try namespaceDevpts(of: p, master: fd),
                             queues: queues.isEmpty ? nil : queues,
                             packetMode: try TerminalOps.packetMode(fd) ? true : nil)
    }

    /// The devpts instance crtool's /dev/pts is.
    private static let hostDevpts: UInt64? = {
        var st = stat()
        return stat("/dev/pts", &st) == 0 ? UInt64(st.st_dev) : nil
    }()

    /// Where the devpts instance the pty is in is mounted whole in the
    /// holder's namespace (not its ptmx bound on /dev/ptmx), or nil for
    /// crtool's. A master opened on a devpts's own
    /// ptmx is in that instance; one opened on a ptmx device node, in the
    /// devpts at "pts" beside the node (the kernel's rule).
    private static func namespaceDevpts(of p: FileProbe, master: Int32) throws -> String? {
        guard let magic = FileSystemMagic.of(fd: master) else { throw SystemError("fstatfs of pty master fd \(p.fd)", pid: p.pid) }
        var instance = p.device
        if magic != FileSystemMagic.devpts {
            let directory = "/" + p.link.split(separator: "/").dropLast().joined(separator: "/")
            let beside = "/proc/\(p.pid)/root" + MountedPath.join(directory, "pts")
            var st = stat()
            guard stat(beside, &st) == 0 else { throw SystemError("stat \(beside), the devpts of pty master fd \(p.fd)", pid: p.pid) }
            instance = UInt64(st.st_dev)
        }
        guard instance != hostDevpts else { return nil }
        let number = DeviceNumber(instance)
        guard let m = try MountTable.read(pid: p.pid).first(where: {
            $0.fsType == "devpts" && $0.root == "/" && UInt64($0.major) == number.major && UInt64($0.minor) == number.minor
        }) else {
            throw FileKinds.unsupported(p, what: "a pty master of a devpts (\(number)) that no mount of its mount namespace shows")
        }
        return m.mountPoint
    }

    /// The pty numbers of the masters `processes` hold in each devpts of
    /// their mount namespace's own, by its place.
    static func held(by processes: [ProcessImage]) -> [String: Set<Int32>] {
        var held: [String: Set<Int32>] = [:]
        for p in processes {
            for f in p.files where f.kind == .ptyMaster {
                guard let state = f.pty, let devpts = state.devpts else { continue }
                held[devpts, default: []].insert(state.index)
            }
        }
        return held
    }

    /// Why the master `f` of `p` cannot be made again in a devpts of its
    /// mount namespace, or nil: the devpts must be one the namespace made
    /// of its own, which the restore makes anew.
    static func devptsProblem(_ f: FileDescriptorImage, of p: ProcessImage, namespaces: [NamespaceImage]) -> String? {
        guard let devpts = f.pty?.devpts else { return nil }
        guard let mnt = p.namespaces?.mnt,
              let mounts = namespaces.first(where: { $0.kind == .mnt && $0.id == mnt })?.mounts else {
            return "pid \(p.pid) fd \(f.fd) is a pty master of the devpts at \(devpts), and it is in crtool's mount namespace, where crtool makes no devpts"
        }
        guard mounts.contains(where: { $0.mountPoint == devpts && $0.fsType == "devpts" && $0.origin == .fresh }) else {
            return "pid \(p.pid) fd \(f.fd) is a pty master of the devpts at \(devpts), which is not a devpts mnt:[\(mnt)] made of its own"
        }
        return nil
    }

    /// The pty's name for the restore: a devpts of a namespace's own is
    /// told by the mount namespace its holder came back in.
    private static func key(_ state: PtyState, holder pid: Int32) throws -> String {
        guard let devpts = state.devpts else { return "pty:\(state.index)" }
        return "pty:mnt:[\(try NamespaceKind.mnt.id(pid: pid))]\(devpts):\(state.index)"
    }

    /// Refuses a hostile image's masters: one without its state, or of a
    /// devpts the restore does not make.
    static func check(_ processes: [ProcessImage], namespaces: [NamespaceImage]) throws {
        for p in processes {
            for f in p.files where f.kind == .ptyMaster {
                guard f.pty != nil else {
                    throw ImageError(file: "process-\(p.pid).json", field: "files[fd \(f.fd)].pty", reason: "missing")
                }
                if let problem = devptsProblem(f, of: p, namespaces: namespaces) {
                    throw ImageError(file: "process-\(p.pid).json", field: "files[fd \(f.fd)].pty.devpts", reason: problem)
                }
                if let state = f.pty, let problem = state.queues?.problem(attributes: [UInt8](state.attributes)) {
                    throw ImageError(file: "process-\(p.pid).json", field: "files[fd \(f.fd)].pty.queues.\(problem.field)", reason: problem.reason)
                }
            }
        }
    }

    /// Makes every master of crtool's /dev/pts before any process exists.
    static func prepare(_ processes: [ProcessImage], registry: OpenFileRegistry) throws {
        try make(processes, inNamespaces: false, registry: registry)
    }

    /// Makes the masters of the namespaces' own devpts instances, once
    /// every process exists in its namespaces and before any has its
    /// descriptors back, through the ptmx its holder's root shows.
    static func prepareInNamespaces(_ processes: [ProcessImage], registry: OpenFileRegistry) throws {
        try make(processes, inNamespaces: true, registry: registry)
    }

    private static func make(_ processes: [ProcessImage], inNamespaces: Bool, registry: OpenFileRegistry) throws {
        for p in processes {
            for f in p.files where f.kind == .ptyMaster {
                guard let state = f.pty, (state.devpts != nil) == inNamespaces else { continue }
                let key = try key(state, holder: p.pid)
                if registry.shared[key] != nil { continue }
                let ptmx = state.devpts.map { "/proc/\(p.pid)/root" + MountedPath.join($0, "ptmx") } ?? "/dev/ptmx"
                let master = try TerminalOps.openPtyMaster(index: state.index, ptmx: ptmx)
                registry.keep(master)
                try TerminalOps.setAttributes(master, [UInt8](state.attributes))
                try TerminalOps.setWindowSize(master, [UInt8](state.windowSize))
                do {
                    try state.queues?.put(master: master)
                } catch {
                    throw CheckpointError("putting back the bytes inside pty \(state.index) for pid \(p.pid) fd \(f.fd): \(error)")
                }
                if state.packetMode == true { try TerminalOps.setPacketMode(master, true) }
                // Every holder's descriptor is of this one open master.
                if fcntl(master, F_SETFL, f.flags & O_NONBLOCK) != 0 {
                    throw SystemError("setting the file flags of pty master \(state.index)", pid: p.pid)
                }
                registry.shared[key] = master
            }
        }
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.pty, let master = context.shared[try key(state, holder: context.pid)] as? Int32 else {
            throw CheckpointError("pseudo-terminal master of fd \(f.fd) in pid \(context.pid) was not made")
        }
        let copy = dup(master)
        if copy < 0 { throw SystemError("dup of the pty master", pid: context.pid) }
        return .local(copy)
    }
}
