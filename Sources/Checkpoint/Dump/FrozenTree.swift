import Glibc
import Ptrace

/// A whole process tree held stopped: the root, its children and their
/// children, found through /proc/PID/task/TID/children and frozen parents
/// first. The children lists are read again until nothing new appears, and
/// a process that forks while the tree is being seized has its child
/// attached by the kernel (PTRACE_O_TRACEFORK), so none escapes.
final class FrozenTree {
    let root: Int32
    private(set) var processes: [FrozenProcess] = []
    private(set) var zombies: [ZombieImage] = []
    /// Each process's parent in the tree, as the children lists showed it.
    private var parents: [Int32: Int32] = [:]
    private let tasks = AttachedTasks()
    private let timeout: Double
    /// The cgroup to freeze while the tree is seized (--freeze-cgroup).
    private let cgroupDirectory: String?
    private var cgroupFreeze: CgroupFreeze?

    init(root: Int32, timeout: Double = FrozenProcess.defaultTimeout, freezingCgroup cgroupDirectory: String? = nil) {
        self.root = root
        self.timeout = timeout
        self.cgroupDirectory = cgroupDirectory
    }

    func freeze() throws {
        var queue: [Int32] = [root]
        var seen: Set<Int32> = [root]
        var frozenCgroups = FrozenCgroupCheck()
        if let cgroupDirectory { cgroupFreeze = try CgroupFreeze(directory: cgroupDirectory, root: root, mounts: frozenCgroups.mounts) }
        do {
            if let cgroupFreeze { try seizeWhileFrozen(cgroupFreeze) }
            var pass = 0
            while true {
                while !queue.isEmpty {
                    let pid = queue.removeFirst()
                    // The root is no zombie (the dump refused one before): a
                    // leader that reads as one is a thread exec'ing.
                    if pid != root, let zombie = Self.zombie(pid) {
                        zombies.append(zombie)
                        continue
                    }
                    try frozenCgroups.requireThawed(pid)
                    let process = FrozenProcess(pid: pid, tasks: tasks, timeout: timeout)
                    do {
                        try process.freeze()
                        processes.append(process)
                    } catch is ProcessVanished where pid != root {
                        // A child that exited just now: its parent is frozen
                        // and has not reaped it, so it is a zombie of the tree.
                        if let zombie = Self.zombie(pid) { zombies.append(zombie) }
                    }
                }
                // Children are read only once their parent is stopped, so the
                // list cannot grow behind our back except through fork events.
                var fresh: [Int32] = []
                for p in processes {
                    for child in try ProcDirectory.children(pid: p.pid) where !seen.contains(child) {
                        seen.insert(child)
                        parents[child] = p.pid
                        fresh.append(child)
                    }
                }
                if fresh.isEmpty { break }
                queue = fresh
                pass += 1
                if pass > 10_000 { throw CheckpointError("the process tree under \(root) keeps growing; cannot freeze it") }
            }
        } catch {
            release()
            throw error
        }
    }

    /// Seizes every thread of the tree with its cgroup frozen, asks each to
    /// stop, and thaws the cgroup: the threads stop as they come out of
    /// the freezer, before running any code of their own, and the walk
    /// that follows adopts them as it adopts children the kernel attached
    /// at a fork. A thread that cannot be seized now is left to that walk,
    /// which says why.
    private func seizeWhileFrozen(_ hold: CgroupFreeze) throws {
        try hold.freeze(within: timeout)
        FaultPoint.reach(FaultPoint.cgroupFrozen)
        var queue: [Int32] = [root]
        var seen: Set<Int32> = [root]
        while let pid = queue.popLast() {
            for tid in (try? ProcDirectory.threads(pid: pid)) ?? [] {
                guard let t = try? Tracee.seize(tid: tid, pid: pid, options: FrozenProcess.seizeOptions) else { continue }
                try? t.interrupt()
                tasks.add(tid)
            }
            for child in (try? ProcDirectory.children(pid: pid)) ?? [] where seen.insert(child).inserted {
                queue.append(child)
            }
        }
        try hold.thaw()
    }

    /// The process as a zombie of the tree, when it has ended and waits
    /// for its frozen parent to reap it; nil when it runs or is gone.
    private static func zombie(_ pid: Int32) -> ZombieImage? {
        // Ended first: what /proc reads after it is final.
        guard FrozenProcess.hasEnded(pid: pid), let s = try? ProcStat.read(pid: pid), s.state == "Z" else { return nil }
        var zombie = ZombieImage(pid: pid, ppid: s.ppid, pgid: s.pgid, sid: s.sid, command: s.command,
                                 exitStatus: s.exitStatus)
        // A zombie's namespaces are gone, its pids are not.
        if let ids = try? ProcStatus.read(pid: pid).namespaceIDs, ids.count > 1 { zombie.namespacePids = ids }
        return zombie
    }

    /// Lets every process go on as it was.
    func release() {
        cgroupFreeze?.restoreUsersState(within: timeout)
        for p in processes.reversed() { p.release() }
        processes = []
        tasks.release()
    }

    /// Kills the tree, children first, so no parent sees a child die first
    /// and acts on it. Each parent, still frozen once its
    /// children are gone, is handed them and its zombies to `reap` before
    /// it dies itself: a parent that reaps them (TaskInspector.reap) frees
    /// their PIDs before the dump returns. Orphans would wait for init,
    /// which on some hosts takes a second or two, and a restore of the
    /// image waits as long for its PIDs. The root is reaped by its own
    /// parent, outside the tree, so nothing here waits for its exit: the
    /// kernel frees its memory while the caller goes on.
    func kill(reaping reap: (_ parent: Int32, _ children: [Int32]) -> Void) {
        var children: [Int32: [Int32]] = [:]
        for z in zombies { children[z.ppid, default: []].append(z.pid) }
        for p in processes { if let parent = parents[p.pid] { children[parent, default: []].append(p.pid) } }
        for p in processes.reversed() {
            if let mine = children[p.pid] { reap(p.pid, mine) }
            p.kill(waitingForExit: parents[p.pid] != nil)
        }
        processes = []
        tasks.release()
        cgroupFreeze?.restoreUsersState(within: timeout)
    }
}
