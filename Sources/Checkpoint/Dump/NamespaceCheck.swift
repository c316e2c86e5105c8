import Glibc
import Ptrace

/// The namespaces a process is in that crtool is not. A user namespace
/// made inside crtool's (unshare --user, a rootless container), a PID
/// namespace of its own (unshare --pid --fork), however deep below
/// crtool's, and a
/// UTS, IPC, network, mount, cgroup or time namespace of its own
/// (unshare, systemd's ProtectHostname=, PrivateIPC=, PrivateNetwork=,
/// PrivateTmp=, a container's cgroup namespace) are made again at the
/// restore; the other kinds would bring the process back in the wrong
/// ones, so the dump refuses them, naming the namespace.
enum NamespaceCheck {
    /// Refuses too a thread that entered a namespace its process is not
    /// in: the restore makes every thread in its process's.
    static func membership(pid: Int32, threads: [Int32]) throws -> NamespaceMembership? {
        var membership = NamespaceMembership()
        for kind in NamespaceKind.allCases {
            guard let mine = own[kind], let theirs = try? kind.id(pid: pid) else { continue }
            for tid in threads where tid != pid {
                if let thread = try? kind.id(pid: pid, tid: tid), thread != theirs {
                    throw CheckpointError("thread \(tid) of pid \(pid) is in another \(kind.title) (\(thread)) than its process (\(theirs)); crtool restores all the threads of a process in one")
                }
            }
            guard mine != theirs else { continue }
            guard NamespaceImage.savedKinds.contains(kind) else {
                throw CheckpointError("pid \(pid) runs in its own \(kind.title) (\(kind.rawValue):[\(theirs)], crtool is in \(kind.rawValue):[\(mine)]); crtool cannot checkpoint processes in other namespaces of this kind yet")
            }
            if kind == .user {
                let parent = try NamespaceKind.parentID(path: kind.path(pid: pid), pid: pid)
                guard parent == mine else {
                    throw CheckpointError("pid \(pid) runs in user:[\(theirs)], which is inside user:[\(parent)], not crtool's user:[\(mine)]; crtool restores user namespaces only one level below its own")
                }
            }
            membership[kind] = theirs
        }
        do {
            let forChildren = try NamespaceKind.pid.forChildrenID(pid: pid)
            if forChildren != (membership.pid ?? own[.pid]) { membership.pidForChildren = forChildren }
        } catch let error as SystemError where error.errno == ENOENT {
            // The kernel shows no namespace that has no first process yet.
            throw CheckpointError("pid \(pid) has made a PID namespace for its children (unshare) and not yet forked the first; crtool cannot make an empty PID namespace")
        }
        if let mine = own[.time] {
            let forChildren = try NamespaceKind.time.forChildrenID(pid: pid)
            if forChildren != (membership.time ?? mine) { membership.timeForChildren = forChildren }
        }
        return membership.isEmpty ? nil : membership
    }

    /// crtool's own, read once: asked for every process of the tree, on
    /// the dump's workers, while the tree is frozen. A kind this kernel
    /// does not have is left out. Read before any thread of crtool enters
    /// another network namespace (NetworkNamespace.entered), as the first
    /// process's check comes before its files.
    static let own: [NamespaceKind: UInt64] = Dictionary(uniqueKeysWithValues: NamespaceKind.allCases.compactMap { kind in
        (try? kind.ownID()).map { (kind, $0) }
    })
}
