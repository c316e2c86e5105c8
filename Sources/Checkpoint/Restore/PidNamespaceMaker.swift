import Ptrace

/// Puts each restored process in the PID namespace it had, with its pid
/// there. A process is born into a PID namespace: the one its parent's
/// children go to (pid_for_children), so the parent is pointed there
/// before each fork. The namespace's first process is forked after an
/// unshare(CLONE_NEWPID) in its parent (the root, from crtool, with
/// CLONE_NEWPID); the parent points back with setns on a pidfd. clone3
/// takes the pids in every namespace at once (set_tid, innermost first).
/// Threads are born only where their process is (clone3 refuses
/// CLONE_THREAD otherwise), so every process's children go to its own
/// namespace while its threads are made, and to the one they went to at
/// the dump afterwards. A namespace inside another is made the same way,
/// by its first process's parent in that other one.
final class PidNamespaceMaker {
    /// The pids of the first process of each namespace made, by id: one
    /// for each namespace from crtool's down to the one it is first of.
    private var firstProcess: [UInt64: [Int32]] = [:]
    /// Where each process's children are born now, when not in its own.
    private var childrenIn: [Int32: UInt64] = [:]

    /// Takes note of a process made: the first one of its namespace.
    func made(_ process: ProcessImage) {
        if let namespace = process.firstOfPidNamespace { firstProcess[namespace] = process.namespacePids }
    }

    /// The ids to make a task with, crtool's first (`namespaceIDs`, or
    /// `id` alone in crtool's namespace), and the one clone3 returns in
    /// `caller`, which numbers it in its own namespace: the task is in
    /// that one or in one inside it.
    static func ids(_ id: Int32, namespaceIDs: [Int32]?, madeBy caller: ProcessImage) -> TaskSpawner.IDs {
        let all = namespaceIDs ?? [id]
        return TaskSpawner.IDs(all: all, returned: all[min(depth(of: caller), all.count - 1)])
    }

    /// How many PID namespaces below crtool's the process is.
    private static func depth(of process: ProcessImage) -> Int {
        process.namespaces?.pid == nil ? 0 : max((process.namespacePids?.count ?? 1) - 1, 0)
    }

    /// Points `parent`'s next children at `namespace` (nil: crtool's),
    /// making it if it is not yet.
    func bearChildren(of parent: ProcessImage, in namespace: UInt64?, with inj: RemoteSyscall) throws {
        let own = parent.namespaces?.pid
        let current = childrenIn[parent.pid] ?? own
        guard namespace != current else { return }
        if namespace == own {
            // Its own pid as it sees itself: the only one it can name in
            // a namespace of its own.
            try Self.enter(pidOf: inj.tracee.ownIDs.pid, what: "its own PID namespace", with: inj)
        } else if let namespace, let first = firstProcess[namespace] {
            // The layout keeps a namespace directly inside its parent's:
            // the parent numbers the first process by its pid there.
            let seen = first[min(Self.depth(of: parent), first.count - 1)]
            try Self.enter(pidOf: seen, what: "pid:[\(namespace)] of pid \(first[0])", with: inj)
        } else if let namespace {
            if current != own { try Self.enter(pidOf: inj.tracee.ownIDs.pid, what: "its own PID namespace", with: inj) }
            try inj.checked("a PID namespace for its child, as pid:[\(namespace)] was", Syscall.unshare, NamespaceKind.pid.cloneFlag)
        }
        childrenIn[parent.pid] = namespace == own ? nil : namespace
    }

    /// After its threads are made: the children it forks from now on are
    /// born where they were at the dump.
    func settle(_ process: ProcessImage, with inj: RemoteSyscall) throws {
        try bearChildren(of: process, in: process.namespaces?.pidForChildren ?? process.namespaces?.pid, with: inj)
    }

    /// setns on a pidfd of the process the target numbers `pid`: its
    /// children are then born in that process's PID namespace.
    static func enter(pidOf pid: Int32, what: String, with inj: RemoteSyscall) throws {
        let fd = try inj.checked("pidfd_open of pid \(pid)", Syscall.pidfdOpen, UInt64(pid), 0)
        defer { _ = try? inj.call(Syscall.close, UInt64(fd)) }
        try inj.checked("pointing its children at \(what)", Syscall.setns, UInt64(fd), NamespaceKind.pid.cloneFlag)
    }
}
