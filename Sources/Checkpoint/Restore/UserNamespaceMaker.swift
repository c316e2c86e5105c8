import Glibc
import Ptrace

/// Makes the tree's user namespaces, and the namespaces each owns, with
/// helper processes: a process that enters a user namespace can never
/// leave it, and one inside could no longer take descriptors from crtool
/// (pidfd_getfd needs CAP_SYS_PTRACE over crtool), give its children the
/// pids of a PID namespace crtool's owns, or make its mounts from
/// crtool's. So a helper forked from the process that needs the namespace
/// makes it (unshare) and is discarded, crtool keeping the namespace open,
/// and the restored processes do all their work from crtool's user
/// namespace and enter their own last (`enter`), just before their
/// threads are made. A user namespace's helper takes the uid that made it
/// before its unshare, and crtool writes its maps from outside. A mount
/// namespace a user namespace owns is made twice: as any other, by the
/// process, with its mounts made from crtool's (`MountNamespaceMaker`),
/// then copied (unshare) by a helper that entered it and then the user
/// namespace, as the kernel copies one into a user namespace.
final class UserNamespaceMaker {
    private let saved: [NamespaceImage]
    /// Every namespace made, by "kind:id", open until the restore ends.
    private var kept: [String: Int32] = [:]
    /// Each process's descriptor of its user namespace, until it enters it.
    private var planted: [Int32: Int64] = [:]
    /// The processes born inside their user namespace (`bearFirst`, and
    /// their descendants): they never were in crtool's.
    private(set) var bornInside: Set<Int32> = []
    /// How those take descriptors; nil when no PID namespace is owned by
    /// a user namespace of the tree.
    let courier: DescriptorCourier?

    init(_ saved: [NamespaceImage]) throws {
        self.saved = saved
        courier = saved.contains { $0.kind == .pid && $0.owner != nil } ? try DescriptorCourier() : nil
    }

    deinit {
        for fd in kept.values { close(fd) }
    }

    /// The user namespace of the tree's that owns `kind:id`; nil for crtool's.
    func owner(of kind: NamespaceKind, id: UInt64) -> UInt64? {
        kind == .user ? nil : saved.first { $0.kind == kind && $0.id == id }?.owner
    }

    /// The file to enter `kind:id` through (a time or PID namespace as one
    /// for children), made now from `inj`'s process if it is not made
    /// yet. `prepare` runs once the helper is in the user namespace, before
    /// its unshare (a cgroup namespace's roots are joined then); `made`
    /// right after, with the helper's pid (a time namespace's offsets are
    /// set before anyone enters it).
    func path(of kind: NamespaceKind, id: UInt64, from inj: RemoteSyscall,
              prepare: (Int32) throws -> Void = { _ in }, made: (Int32) throws -> Void = { _ in }) throws -> String {
        if let fd = kept["\(kind.rawValue):\(id)"] { return Self.path(fd) }
        guard let user = owner(of: kind, id: id) else {
            preconditionFailure("\(kind.rawValue):[\(id)] is not owned by a user namespace of the tree")
        }
        let userPath = try path(ofUser: user, from: inj)
        let (helper, pidInParent) = try TaskSpawner.spawnHelper(from: inj)
        defer { try? TaskSpawner.endHelper(helper, pidInParent: pidInParent, parent: inj) }
        let pid = helper.tracee.pid
        if kind == .mnt {
            // The namespace `inj`'s process made and gave its mounts.
            try NamespaceRestorer.join(.mnt, path: NamespaceKind.mnt.path(pid: inj.tracee.pid), courier: courier, with: helper,
                                       what: "the mount namespace pid \(inj.tracee.pid) made for mnt:[\(id)]")
        }
        if !bornInside.contains(inj.tracee.pid) {
            try NamespaceRestorer.join(.user, path: userPath, courier: courier, with: helper, what: "user:[\(user)]")
        }
        try prepare(pid)
        try helper.checked("a \(kind.title) owned by user:[\(user)], as \(kind.rawValue):[\(id)] was", Syscall.unshare, kind.cloneFlag)
        try made(pid)
        return try keep(kind == .pid || kind == .time ? kind.forChildrenPath(pid: pid) : kind.path(pid: pid), as: "\(kind.rawValue):\(id)", pid: pid)
    }

    /// The file to enter user namespace `id` through, made now from
    /// `inj`'s process if it is not made yet.
    func path(ofUser id: UInt64, from inj: RemoteSyscall) throws -> String {
        if let fd = kept["user:\(id)"] { return Self.path(fd) }
        // `NamespaceRestorer.load` checked it is there, with its maps.
        let namespace = saved.first { $0.kind == .user && $0.id == id }!
        let (helper, pidInParent) = try TaskSpawner.spawnHelper(from: inj)
        defer { try? TaskSpawner.endHelper(helper, pidInParent: pidInParent, parent: inj) }
        let pid = helper.tracee.pid
        let uid = UInt64(namespace.ownerUID!)
        try helper.checked("taking uid \(uid), which made user:[\(id)]", Syscall.setresuid, uid, uid, uid)
        try helper.checked("a user namespace, as user:[\(id)] was", Syscall.unshare, NamespaceKind.user.cloneFlag)
        do {
            if namespace.setgroupsAllowed == false { try LocalFile.writeControl("deny", to: "/proc/\(pid)/setgroups", pid: pid) }
            // A map never written stays so: every id is unmapped there.
            for (file, map) in [("uid_map", namespace.uidMap!), ("gid_map", namespace.gidMap!)] where !map.isEmpty {
                try LocalFile.writeControl(IDMap.text(map), to: "/proc/\(pid)/\(file)", pid: pid)
            }
        } catch {
            throw CheckpointError("writing the maps of the user namespace made for user:[\(id)]: \(error)")
        }
        return try keep(NamespaceKind.user.path(pid: pid), as: "user:\(id)", pid: pid)
    }

    /// Gives `process` its user namespace's file, made already (`path(ofUser:)`
    /// as it was created), above its own descriptors: it enters it once
    /// it can no longer take a descriptor from crtool.
    func plant(_ process: ProcessImage, through files: FileRestoreContext) throws {
        guard let user = process.namespaces?.user, let fd = kept["user:\(user)"], !bornInside.contains(process.pid) else { return }
        planted[process.pid] = try files.install(fd)
    }

    /// Puts `process` in its user namespace, last: its ids are set first,
    /// from crtool's namespace, where any are allowed (one unmapped in
    /// the namespace, a group setgroups is denied there), keeping the
    /// capabilities that let it enter; the namespace gives it every
    /// capability in it, which its threads, made next, inherit, and each
    /// thread then narrows to its own (`restoreCredentials`).
    /// `procTextFiles`: its /proc text files (`OpenFileRegistry`),
    /// opened again once it is inside, each at its number: the kernel
    /// writes ids in them (uid_map, status) as their opener's user
    /// namespace sees them, and the opener was the process, in crtool's.
    func enter(_ process: ProcessImage, procTextFiles: [(fd: Int32, path: String, flags: Int32)], with inj: RemoteSyscall) throws {
        guard let user = process.namespaces?.user, !bornInside.contains(process.pid) else { return }
        guard let fd = planted.removeValue(forKey: process.pid) else {
            preconditionFailure("pid \(process.pid) was not given the file of user:[\(user)]")
        }
        try enter(user, as: process, through: fd, with: inj)
        for file in procTextFiles {
            let path = try inj.stage(Array(file.path.utf8) + [0])
            let opened = try inj.checked("opening \(file.path) again inside user:[\(user)]", Syscall.openat,
                                         UInt64(bitPattern: -100), path, UInt64(UInt32(bitPattern: file.flags)))
            try inj.checked("putting \(file.path) at fd \(file.fd)", Syscall.dup3, UInt64(opened), UInt64(file.fd),
                            UInt64(file.flags & Int32(O_CLOEXEC)))
            try inj.checked("close", Syscall.close, UInt64(opened))
        }
    }

    /// Whether `process` is to be born inside its user namespace: the
    /// first process of a PID namespace that namespace owns, or a child
    /// of one born inside (`UserNamespaceLayout` keeps every process of
    /// such a PID namespace in its owner).
    func isBornInside(_ process: ProcessImage) -> Bool {
        bornInside.contains(process.ppid) || process.firstOfPidNamespace.map { owner(of: .pid, id: $0) != nil } == true
    }

    /// Takes note of a process made inside its user namespace by its
    /// parent, itself born there.
    func madeInside(_ process: ProcessImage) {
        bornInside.insert(process.pid)
    }

    /// Makes the first process of a PID namespace a user namespace owns,
    /// as a child of `inj`'s process. The kernel shows a new PID namespace
    /// to no one until its first process exists, so that process is born
    /// from the one that made it, inside the user namespace, and can never
    /// leave it. A helper forked from the parent gets, while it is still
    /// in crtool's user namespace, crtool's socket (`DescriptorCourier`)
    /// at 3 in place of its pidfd of crtool, the process's audit login uid
    /// and its ids; it enters the user namespace, unshares the PID
    /// namespace, and forks the process as its parent's child
    /// (CLONE_PARENT), crtool setting ns_last_pid for its pid in crtool's
    /// namespace. A task made elsewhere on the host in between takes that
    /// pid, and the namespace dies with the process made instead: each
    /// try has a helper and a namespace of its own.
    func bearFirst(_ process: ProcessImage, from inj: RemoteSyscall, warnings: inout [String], tries: Int = 20) throws -> Tracee {
        guard let user = process.namespaces?.user, let pidNamespace = process.firstOfPidNamespace, let courier,
              let ids = process.namespacePids else {
            preconditionFailure("pid \(process.pid) is not the first process of a PID namespace inside its user namespace")
        }
        _ = try path(ofUser: user, from: inj)
        var made: [Int32] = []
        for _ in 0..<tries {
            let (helper, pidInParent) = try TaskSpawner.spawnHelper(from: inj)
            defer { try? TaskSpawner.endHelper(helper, pidInParent: pidInParent, parent: inj) }
            let userFD = try FileRestoreContext.install(kept["user:\(user)"]!, through: FileRestoreContext.inheritedCrtoolPidFD, courier: nil, with: helper)
            let socket = try FileRestoreContext.install(courier.handedEnd, through: FileRestoreContext.inheritedCrtoolPidFD, courier: nil, with: helper)
            try helper.checked("putting crtool's socket at fd 3", Syscall.dup3, UInt64(socket), UInt64(FileRestoreContext.inheritedCrtoolPidFD), 0)
            try helper.checked("close", Syscall.close, UInt64(socket))
            try ProcessStateRestorer.restoreLoginUID(process, with: helper, warnings: &warnings)
            try enter(user, as: process, through: userFD, with: helper)
            try helper.checked("a PID namespace owned by user:[\(user)], as pid:[\(pidNamespace)] was", Syscall.unshare, NamespaceKind.pid.cloneFlag)
            let attempt = try TaskSpawner.spawnOnceAfterLastPid(.process, ids: TaskSpawner.IDs(all: ids, returned: ids[0]), in: inj.tracee.pid,
                                                                with: helper, extraFlags: TaskSpawner.cloneParent, reapedBy: inj)
            made = attempt.made
            if let task = attempt.task {
                bornInside.insert(process.pid)
                return task
            }
        }
        throw CheckpointError("cannot create process \(process.pid) as a child of \(inj.tracee.pid): another task took that id each of \(tries) times, the last one \(made)")
    }

    /// Gives `inj`'s task `process`'s ids, then enters `user` through its
    /// descriptor `fd` there.
    private func enter(_ user: UInt64, as process: ProcessImage, through fd: Int64, with inj: RemoteSyscall) throws {
        let c = process.credentials
        let now = try ProcStatus.read(pid: inj.tracee.tid)
        let keepCaps = c.uids.count == 4 && c.gids.count == 4 && (c.uids, c.gids, c.groups) != (now.uids, now.gids, now.groups)
        if keepCaps {
            try inj.checked("PR_SET_KEEPCAPS", Syscall.prctl, 8, 1)
            try ThreadStateRestorer.setIDs(c, with: inj)
            try ThreadStateRestorer.capset(effective: now.capPermitted, permitted: now.capPermitted, inheritable: 0,
                                           what: "capset, to enter user:[\(user)]", with: inj)
        }
        try inj.checked("entering user:[\(user)]", Syscall.setns, UInt64(fd), NamespaceKind.user.cloneFlag)
        try inj.checked("close", Syscall.close, UInt64(fd))
        // Children forked from here inherit it (`bearFirst`).
        if keepCaps { try inj.checked("PR_SET_KEEPCAPS", Syscall.prctl, 8, 0) }
    }

    private func keep(_ path: String, as key: String, pid: Int32) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path) to keep the namespace made for \(key)", pid: pid) }
        kept[key] = fd
        return Self.path(fd)
    }

    private static func path(_ fd: Int32) -> String { "/proc/\(getpid())/fd/\(fd)" }
}
