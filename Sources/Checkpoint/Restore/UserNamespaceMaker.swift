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

    init(_ saved: [NamespaceImage]) {
        self.saved = saved
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
            try NamespaceRestorer.join(.mnt, path: NamespaceKind.mnt.path(pid: inj.tracee.pid), with: helper,
                                       what: "the mount namespace pid \(inj.tracee.pid) made for mnt:[\(id)]")
        }
        try NamespaceRestorer.join(.user, path: userPath, with: helper, what: "user:[\(user)]")
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
        guard let user = process.namespaces?.user, let fd = kept["user:\(user)"] else { return }
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
        guard let user = process.namespaces?.user else { return }
        guard let fd = planted.removeValue(forKey: process.pid) else {
            preconditionFailure("pid \(process.pid) was not given the file of user:[\(user)]")
        }
        let c = process.credentials
        let now = try ProcStatus.read(pid: inj.tracee.tid)
        if c.uids.count == 4, c.gids.count == 4, (c.uids, c.gids, c.groups) != (now.uids, now.gids, now.groups) {
            try inj.checked("PR_SET_KEEPCAPS", Syscall.prctl, 8, 1)
            try ThreadStateRestorer.setIDs(c, with: inj)
            try ThreadStateRestorer.capset(effective: now.capPermitted, permitted: now.capPermitted, inheritable: 0,
                                           what: "capset, to enter user:[\(user)]", with: inj)
        }
        try inj.checked("entering user:[\(user)]", Syscall.setns, UInt64(fd), NamespaceKind.user.cloneFlag)
        try inj.checked("close", Syscall.close, UInt64(fd))
        for file in procTextFiles {
            let path = try inj.stage(Array(file.path.utf8) + [0])
            let opened = try inj.checked("opening \(file.path) again inside user:[\(user)]", Syscall.openat,
                                         UInt64(bitPattern: -100), path, UInt64(UInt32(bitPattern: file.flags)))
            try inj.checked("putting \(file.path) at fd \(file.fd)", Syscall.dup3, UInt64(opened), UInt64(file.fd),
                            UInt64(file.flags & Int32(O_CLOEXEC)))
            try inj.checked("close", Syscall.close, UInt64(opened))
        }
    }

    private func keep(_ path: String, as key: String, pid: Int32) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path) to keep the namespace made for \(key)", pid: pid) }
        kept[key] = fd
        return Self.path(fd)
    }

    private static func path(_ fd: Int32) -> String { "/proc/\(getpid())/fd/\(fd)" }
}
