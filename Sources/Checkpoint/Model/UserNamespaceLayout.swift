import Ptrace

/// What a restore can make of the tree's user namespaces. Each is made by
/// a helper process crtool discards, with its maps written from outside;
/// the namespaces it owns are made by helpers that entered it, and every
/// process enters its own user namespace last, once its files, memory and
/// children are made from crtool's, where all of that is allowed
/// (`UserNamespaceMaker`). The first process of a PID namespace a user
/// namespace owns is the exception: the kernel shows the namespace to no
/// one until it has that process, so it is born inside (from its parent,
/// or for the tree's root from a stand-in for it), and so are its
/// descendants; crtool gives them their descriptors by message
/// (`DescriptorCourier`) and their pids in its own PID namespace through
/// ns_last_pid (`TaskSpawner.spawnAfterLastPid`), the one namespace whose
/// ids clone3 takes from them only there. That order rules out, checked
/// at the dump and again at the restore:
/// - a PID namespace a user namespace owns that is not directly below
///   crtool's (crtool can set ns_last_pid only in its own), or whose
///   first process is outside that user namespace;
/// - a process with more than one thread in a user namespace of the
///   tree's and in a PID namespace below crtool's that another user
///   namespace owns: its threads are made after it entered, when clone3
///   takes ids only in PID namespaces its own user namespace owns;
/// - a time namespace a user namespace owns made by a process only for
///   its children (unshare --time --fork): setns, the one way into it
///   from outside, moves the caller too.
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
        for n in saved where n.kind == .pid {
            guard let user = n.owner else { continue }
            if let deep = processes.first(where: { $0.namespaces?.pid == n.id && ($0.namespacePids?.count ?? 0) != 2 }) {
                return Problem(pid: deep.pid, field: "namespacePids", reason: "pid:[\(n.id)] was made inside user:[\(user)] and is not directly below crtool's PID namespace; crtool can make a PID namespace inside a user namespace only there")
            }
            if let first = processes.first(where: { $0.firstOfPidNamespace == n.id }) {
                if first.namespaces?.user != user {
                    return Problem(pid: first.pid, field: "namespaces.user", reason: "it is the first process of pid:[\(n.id)], which user:[\(user)] owns, and is not in that user namespace; crtool makes such a process inside it")
                }
            }
        }
        for p in processes {
            guard let user = p.namespaces?.user, p.threads.count > 1, let namespace = p.namespaces?.pid,
                  owner(.pid, namespace) != user else { continue }
            return Problem(pid: p.pid, field: "threads", reason: "its \(p.threads.count) threads are in user:[\(user)] and in pid:[\(namespace)], which that user namespace does not own; crtool makes threads after their process entered its user namespace, and from there cannot yet give them their ids in that PID namespace")
        }
        for p in processes {
            if let time = p.namespaces?.timeForChildren, let user = owner(.time, time) {
                return Problem(pid: p.pid, field: "namespaces.timeForChildren", reason: "its children are born in time:[\(time)], which user:[\(user)] owns and which it did not enter itself; crtool can give a process a time namespace made inside a user namespace only by entering it")
            }
        }
        return nil
    }
}
