import Ptrace

/// What a restore can make of the tree's user namespaces. Each is made by
/// a helper process crtool discards, with its maps written from outside;
/// the namespaces it owns are made by helpers that entered it, and every
/// process enters its own user namespace last, once its files, memory and
/// children are made from crtool's, where all of that is allowed
/// (`UserNamespaceMaker`). That order rules out, checked at the dump and
/// again at the restore:
/// - a PID namespace a user namespace owns: the first process of one is
///   born inside the user namespace (the kernel shows the namespace to no
///   one until it has that process), so its files and memory would have
///   to be made from inside;
/// - a process with more than one thread in a user namespace of the
///   tree's and in a PID namespace below crtool's: its threads are made
///   after it entered, when clone3 takes no ids (that needs
///   CAP_CHECKPOINT_RESTORE over the user namespace that owns their PID
///   namespace, crtool's), and crtool can choose the next id (ns_last_pid,
///   `TaskSpawner.spawnThreadAfterLastPid`) only in its own;
/// - a time namespace a user namespace owns made by a process only for
///   its children (unshare --time --fork): setns, the one way into it
///   from outside, moves the caller too;
/// - a mount namespace a user namespace owns that has a root of its own
///   (pivot_root): its mounts come from a copy made inside the user
///   namespace, where they are locked together and crtool's cannot be
///   taken off them.
public enum UserNamespaceLayout {
    public struct Problem: Equatable, Sendable {
        public var pid: Int32
        public var field: String
        public var reason: String
    }

    public static func problem(processes: [ProcessImage], saved: [NamespaceImage]) -> Problem? {
        let owners = Dictionary(saved.filter { $0.kind != .user }.map { ("\($0.kind.rawValue):\($0.id)", $0.owner) },
                                uniquingKeysWith: { a, _ in a })
        func owner(_ kind: NamespaceKind, _ id: UInt64?) -> UInt64? {
            id.flatMap { owners["\(kind.rawValue):\($0)"] ?? nil }
        }
        for n in saved where n.kind == .pid && n.owner != nil {
            let first = processes.first { $0.firstOfPidNamespace == n.id } ?? processes.first { $0.namespaces?.pid == n.id }
            return Problem(pid: first?.pid ?? 0, field: "namespaces.pid", reason: "pid:[\(n.id)] was made inside user:[\(n.owner!)]; crtool cannot yet make a PID namespace inside a user namespace")
        }
        for p in processes {
            guard let user = p.namespaces?.user, p.threads.count > 1, let namespace = p.namespaces?.pid else { continue }
            return Problem(pid: p.pid, field: "threads", reason: "its \(p.threads.count) threads are in user:[\(user)] and in pid:[\(namespace)]; crtool makes threads after their process entered its user namespace, and from there cannot yet give them their ids in a PID namespace below its own")
        }
        for p in processes {
            if let time = p.namespaces?.timeForChildren, let user = owner(.time, time) {
                return Problem(pid: p.pid, field: "namespaces.timeForChildren", reason: "its children are born in time:[\(time)], which user:[\(user)] owns and which it did not enter itself; crtool can give a process a time namespace made inside a user namespace only by entering it")
            }
        }
        for n in saved where n.kind == .mnt && n.owner != nil && n.mounts?.first?.origin != .host {
            let maker = processes.first { $0.namespaces?.mnt == n.id }?.pid ?? 0
            return Problem(pid: maker, field: "namespaces.mnt", reason: "mnt:[\(n.id)] has a root of its own (pivot_root) and user:[\(n.owner!)] owns it; crtool cannot yet make such a namespace inside a user namespace")
        }
        return nil
    }
}
