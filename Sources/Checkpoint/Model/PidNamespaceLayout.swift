/// How the processes of a tree sit in PID namespaces of their own, in the
/// one shape crtool can make again: each namespace directly inside
/// crtool's, made by forking its first process (pid 1 in it, its init)
/// from a parent outside it, and every other process of it forked inside
/// it. The dump checks a running tree with it (and refuses, leaving the
/// tree as it was) and the restore checks an image with it (and refuses
/// before any process exists), so both say the same.
public enum PidNamespaceLayout {
    /// What is wrong, and where: the process (or zombie) and its field.
    public struct Problem: Error, Equatable {
        public var pid: Int32
        public var zombie: Bool
        public var field: String
        public var reason: String
    }

    /// The first problem found, nil for a tree crtool can make again.
    /// Processes in crtool's namespace have no other pids; a process in a
    /// namespace of its own has two: crtool's, then its own.
    public static func problem(processes: [ProcessImage], zombies: [ZombieImage]) -> Problem? {
        let byPid = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        var inner: [UInt64: Set<Int32>] = [:]
        func claim(_ id: Int32, in namespace: UInt64) -> Bool { inner[namespace, default: []].insert(id).inserted }
        for p in processes {
            guard let namespace = p.namespaces?.pid else {
                if p.namespacePids != nil {
                    return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: "a process in crtool's PID namespace has no other pid")
                }
                if let t = p.threads.first(where: { $0.namespaceTids != nil }) {
                    return Problem(pid: p.pid, zombie: false, field: "threads[tid \(t.tid)].namespaceTids", reason: "a thread in crtool's PID namespace has no other tid")
                }
                continue
            }
            guard let ids = p.namespacePids, let own = pair(ids, first: p.pid) else {
                return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: "a process in pid:[\(namespace)] needs its pid in crtool's namespace (\(p.pid)), then a positive one in its own")
            }
            guard claim(own, in: namespace) else {
                return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: "pid \(own) is taken twice in pid:[\(namespace)]")
            }
            for t in p.threads {
                let field = "threads[tid \(t.tid)].namespaceTids"
                guard let tids = t.namespaceTids, let tid = pair(tids, first: t.tid) else {
                    return Problem(pid: p.pid, zombie: false, field: field, reason: "a thread in pid:[\(namespace)] needs its tid in crtool's namespace (\(t.tid)), then a positive one in its own")
                }
                guard t.tid == p.pid ? tid == own : claim(tid, in: namespace) else {
                    return Problem(pid: p.pid, zombie: false, field: field, reason: t.tid == p.pid ? "the main thread's tids are the process's pids" : "tid \(tid) is taken twice in pid:[\(namespace)]")
                }
            }
            let parent = byPid[p.ppid]
            if own == 1 {
                if let parent, parent.namespaces?.pid != nil {
                    return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: "the first process of pid:[\(namespace)] has its parent \(p.ppid) in another PID namespace than crtool's; crtool makes PID namespaces only directly inside its own")
                }
            } else if parent == nil {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pid",
                               reason: "it is pid \(own) in pid:[\(namespace)], whose first process (pid 1 in it) is not in the tree; crtool makes a PID namespace again by forking that process: dump the tree from it")
            } else if parent?.namespaces?.pid != namespace {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pid",
                               reason: "it entered pid:[\(namespace)] from its parent \(p.ppid)'s (setns); crtool makes a process of a PID namespace only by forking it inside it")
            }
        }
        for namespace in inner.keys.sorted() where !inner[namespace]!.contains(1) {
            let member = processes.first { $0.namespaces?.pid == namespace }!
            return Problem(pid: member.pid, zombie: false, field: "namespaces.pid", reason: "pid:[\(namespace)] has no first process (pid 1 in it) in the tree")
        }
        for p in processes {
            guard let forChildren = p.namespaces?.pidForChildren else { continue }
            guard p.namespaces?.pid == nil, inner[forChildren] != nil else {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pidForChildren", reason: "its children are born in pid:[\(forChildren)], which is not a PID namespace of the tree directly inside crtool's")
            }
        }
        for z in zombies {
            let namespace = byPid[z.ppid]?.namespaces?.pid
            guard let namespace else {
                if z.namespacePids != nil {
                    return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: "the zombie was the first process of a PID namespace, which ended with it; crtool cannot make it again")
                }
                continue
            }
            guard let ids = z.namespacePids, let own = pair(ids, first: z.pid), own != 1 else {
                return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: "a zombie of a parent in pid:[\(namespace)] needs its pid in crtool's namespace (\(z.pid)), then one above 1 in its parent's")
            }
            guard claim(own, in: namespace) else {
                return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: "pid \(own) is taken twice in pid:[\(namespace)]")
            }
        }
        return nil
    }

    /// The id in the namespace of its own, when `ids` are crtool's
    /// (`first`) and a positive one.
    private static func pair(_ ids: [Int32], first: Int32) -> Int32? {
        ids.count == 2 && ids[0] == first && ids[1] > 0 ? ids[1] : nil
    }

    /// `host` as the process `viewer` numbers it: the same in crtool's
    /// namespace; in a namespace of its own, the pid there of the process,
    /// thread or zombie of the tree it names, or nil for one outside it
    /// (which the kernel shows there as 0).
    public static func id(_ host: Int32, seenBy viewer: ProcessImage, in processes: [ProcessImage], zombies: [ZombieImage]) -> Int32? {
        guard let namespace = viewer.namespaces?.pid else { return host }
        for p in processes where p.namespaces?.pid == namespace {
            if p.pid == host { return p.namespacePids?.last }
            if let t = p.threads.first(where: { $0.tid == host }) { return t.namespaceTids?.last }
        }
        for z in zombies where z.pid == host && processes.first(where: { $0.pid == z.ppid })?.namespaces?.pid == namespace {
            return z.namespacePids?.last
        }
        return nil
    }
}

extension ProcessImage {
    /// The PID namespace of its own whose first process (pid 1 in it) it
    /// is: the one that makes it again, mounts its proc. Nil otherwise.
    public var firstOfPidNamespace: UInt64? {
        namespacePids?.last == 1 ? namespaces?.pid : nil
    }
}
