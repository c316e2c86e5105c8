/// How the processes of a tree sit in PID namespaces of their own, in the
/// one shape crtool can make again: each namespace made by forking its
/// first process (pid 1 in it, its init) from a parent in the namespace
/// it is inside (crtool's, or one of the tree's), and every other process
/// of it forked inside it. The dump checks a running tree with it (and
/// refuses, leaving the tree as it was) and the restore checks an image
/// with it (and refuses before any process exists), so both say the same.
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
    /// namespace of its own has one more for each namespace from crtool's
    /// down to its own (NSpid): crtool's, ..., its own.
    public static func problem(processes: [ProcessImage], zombies: [ZombieImage]) -> Problem? {
        let byPid = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        let parents = parentNamespaces(processes)
        var inner: [UInt64: Set<Int32>] = [:]
        func claim(_ id: Int32, in namespace: UInt64) -> Bool { inner[namespace, default: []].insert(id).inserted }
        /// The first id `ids` claims twice, with its namespace.
        func claimAll(_ ids: [Int32], along levels: [UInt64]) -> (id: Int32, namespace: UInt64)? {
            zip(ids.dropFirst(), levels).first { !claim($0.0, in: $0.1) }.map { (id: $0.0, namespace: $0.1) }
        }
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
            let levels = chain(namespace, parents: parents)
            let shape = "a process in pid:[\(namespace)] needs its pid in crtool's namespace (\(p.pid)), then a positive one in each namespace down to its own"
            guard let ids = p.namespacePids, isShaped(ids, first: p.pid) else {
                return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: shape)
            }
            let own = ids[ids.count - 1]
            let parent = byPid[p.ppid]
            if own == 1 && parent == nil && ids.count > 2 {
                return Problem(pid: p.pid, zombie: false, field: "namespacePids",
                               reason: "it is the first process of pid:[\(namespace)], \(ids.count - 1) levels below crtool's, and the namespace that one is inside has its own first process outside the tree; dump the tree from that one")
            }
            guard let levels else {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pid",
                               reason: "it is pid \(own) in pid:[\(namespace)], whose first process (pid 1 in it) is not in the tree; crtool makes a PID namespace again by forking that process: dump the tree from it")
            }
            guard ids.count == levels.count + 1 else {
                return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: shape + " (\(levels.count) below crtool's)")
            }
            if let taken = claimAll(ids, along: levels) {
                return Problem(pid: p.pid, zombie: false, field: "namespacePids", reason: "pid \(taken.id) is taken twice in pid:[\(taken.namespace)]")
            }
            for t in p.threads {
                let field = "threads[tid \(t.tid)].namespaceTids"
                guard let tids = t.namespaceTids, tids.count == ids.count, isShaped(tids, first: t.tid) else {
                    return Problem(pid: p.pid, zombie: false, field: field, reason: "a thread in pid:[\(namespace)] needs its tid in crtool's namespace (\(t.tid)), then a positive one in each namespace down to its own")
                }
                if t.tid == p.pid {
                    guard tids == ids else {
                        return Problem(pid: p.pid, zombie: false, field: field, reason: "the main thread's tids are the process's pids")
                    }
                } else if let taken = claimAll(tids, along: levels) {
                    return Problem(pid: p.pid, zombie: false, field: field, reason: "tid \(taken.id) is taken twice in pid:[\(taken.namespace)]")
                }
            }
            // A first process's parent is in the namespace its namespace
            // is inside (`parentNamespaces`), or it is the root.
            guard own != 1 else { continue }
            if parent == nil {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pid",
                               reason: "it is pid \(own) in pid:[\(namespace)], whose first process (pid 1 in it) is not in the tree; crtool makes a PID namespace again by forking that process: dump the tree from it")
            } else if parent?.namespaces?.pid != namespace {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pid",
                               reason: "it entered pid:[\(namespace)] from its parent \(p.ppid)'s (setns); crtool makes a process of a PID namespace only by forking it inside it")
            }
        }
        for p in processes {
            guard let forChildren = p.namespaces?.pidForChildren else { continue }
            guard let outer = parents[forChildren], outer == p.namespaces?.pid else {
                return Problem(pid: p.pid, zombie: false, field: "namespaces.pidForChildren", reason: "its children are born in pid:[\(forChildren)], which is not a PID namespace of the tree directly inside its own")
            }
        }
        for z in zombies {
            let namespace = byPid[z.ppid]?.namespaces?.pid
            guard let namespace, let levels = chain(namespace, parents: parents) else {
                if z.namespacePids != nil {
                    return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: "the zombie was the first process of a PID namespace, which ended with it; crtool cannot make it again")
                }
                continue
            }
            let shape = "a zombie of a parent in pid:[\(namespace)] needs its pid in crtool's namespace (\(z.pid)), then one in each namespace down to its parent's"
            guard let ids = z.namespacePids, isShaped(ids, first: z.pid) else {
                return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: shape)
            }
            guard ids.count <= levels.count + 1 else {
                return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: "the zombie was the first process of a PID namespace, which ended with it; crtool cannot make it again")
            }
            guard ids.count == levels.count + 1 else {
                return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: shape)
            }
            if let taken = claimAll(ids, along: levels) {
                return Problem(pid: z.pid, zombie: true, field: "namespacePids", reason: "pid \(taken.id) is taken twice in pid:[\(taken.namespace)]")
            }
        }
        return nil
    }

    /// Each PID namespace of the tree with the one it is inside (nil for
    /// crtool's): that of the parent of its first process, the one that
    /// made it. A namespace whose first process is not in the tree, or
    /// is the tree's root, is inside crtool's as far as the tree says.
    static func parentNamespaces(_ processes: [ProcessImage]) -> [UInt64: UInt64?] {
        let byPid = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        var parents: [UInt64: UInt64?] = [:]
        for p in processes {
            guard let namespace = p.firstOfPidNamespace, parents[namespace] == nil else { continue }
            parents[namespace] = .some(byPid[p.ppid]?.namespaces?.pid)
        }
        return parents
    }

    /// The namespaces from the one directly inside crtool's down to
    /// `namespace`; nil when one of them has no first process in the tree,
    /// or they go round in a circle (an image can say anything).
    static func chain(_ namespace: UInt64, parents: [UInt64: UInt64?]) -> [UInt64]? {
        var levels = [namespace]
        var next = namespace
        while true {
            guard let outer = parents[next] else { return nil }
            guard let outer else { return levels.reversed() }
            guard levels.count < maximumDepth, !levels.contains(outer) else { return nil }
            levels.append(outer)
            next = outer
        }
    }

    /// The kernel nests PID namespaces at most 32 deep.
    static let maximumDepth = 32

    /// Crtool's id (`first`) and a positive one for each namespace below.
    private static func isShaped(_ ids: [Int32], first: Int32) -> Bool {
        ids.count >= 2 && ids[0] == first && ids.dropFirst().allSatisfy { $0 > 0 }
    }

    /// `host` as the process `viewer` numbers it: the same in crtool's
    /// namespace; in a namespace of its own, the pid there of the process,
    /// thread or zombie of the tree it names, in it or in one inside it,
    /// or nil for one outside it (which the kernel shows there as 0).
    public static func id(_ host: Int32, seenBy viewer: ProcessImage, in processes: [ProcessImage], zombies: [ZombieImage]) -> Int32? {
        guard let namespace = viewer.namespaces?.pid, let depth = viewer.namespacePids.map({ $0.count - 1 }), depth > 0 else { return host }
        var target: (ids: [Int32]?, namespace: UInt64?)?
        for p in processes where target == nil {
            if p.pid == host {
                target = (p.namespacePids, p.namespaces?.pid)
            } else if let t = p.threads.first(where: { $0.tid == host }) {
                target = (t.namespaceTids, p.namespaces?.pid)
            }
        }
        if target == nil, let z = zombies.first(where: { $0.pid == host }) {
            target = (z.namespacePids, processes.first { $0.pid == z.ppid }?.namespaces?.pid)
        }
        guard let ids = target?.ids, ids.count > depth, let theirs = target?.namespace,
              let levels = chain(theirs, parents: parentNamespaces(processes)), levels.count >= depth,
              levels[depth - 1] == namespace else { return nil }
        return ids[depth]
    }
}

extension ProcessImage {
    /// The PID namespace of its own whose first process (pid 1 in it) it
    /// is: the one that makes it again, mounts its proc. Nil otherwise.
    public var firstOfPidNamespace: UInt64? {
        namespacePids?.last == 1 ? namespaces?.pid : nil
    }
}
