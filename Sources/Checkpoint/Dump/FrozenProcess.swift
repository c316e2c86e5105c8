import Glibc
import Ptrace

/// Every thread of one process held in a ptrace stop. Threads created
/// while the freeze is under way are caught: the task list is read again
/// until no new thread shows up, and clone events attach newcomers.
final class FrozenProcess {
    let pid: Int32
    private(set) var threads: [Tracee] = []
    /// The process was in a job-control stop (SIGSTOP) when frozen.
    private(set) var wasStopped = false
    /// Where each thread seized here was waiting just before its stop
    /// (/proc/PID/task/TID/wchan), for `SyscallRestart.restartedCall`.
    private(set) var waitChannels: [Int32: String] = [:]
    private let tasks: AttachedTasks
    /// How long a thread may take to reach its interrupt stop.
    private let timeout: Double

    init(pid: Int32, tasks: AttachedTasks = AttachedTasks(), timeout: Double = FrozenProcess.defaultTimeout) {
        self.pid = pid
        self.tasks = tasks
        self.timeout = timeout
    }

    /// CRIU's default: ten seconds.
    static let defaultTimeout = 10.0

    var leader: Tracee { threads.first { $0.tid == pid }! }

    func freeze() throws {
        var known: [Int32: Tracee] = [:]
        var stopped: Set<Int32> = []
        // Tasks found exiting: an exited task stays in the task list until
        // it is reaped, and its parent, frozen, will not reap it meanwhile.
        var gone: Set<Int32> = []
        do {
            // Read the task list again once every thread known is stopped:
            // a thread cloned meanwhile is listed by then, and none can be
            // cloned after.
            while true {
                let fresh = try ProcDirectory.threads(pid: pid).filter { known[$0] == nil && !gone.contains($0) }
                if fresh.isEmpty && stopped.count == known.count { break }
                for tid in fresh {
                    if let t = try attach(tid) { known[tid] = t } else { gone.insert(tid) }
                }
                for (tid, t) in known.sorted(by: { $0.key < $1.key }) where !stopped.contains(tid) {
                    if try waitForStop(t) {
                        stopped.insert(tid)
                    } else {
                        known[tid] = nil
                        gone.insert(tid)
                    }
                }
            }
            // Clone events of threads adopted before their event was read.
            for tid in known.keys { _ = tasks.take(tid) }
        } catch {
            threads = Array(known.values)
            release(kill: false)
            throw error
        }
        threads = known.values.sorted { ($0.tid == pid ? 0 : 1, $0.tid) < ($1.tid == pid ? 0 : 1, $1.tid) }
        guard threads.contains(where: { $0.tid == pid }) else {
            release(kill: false)
            throw ProcessVanished(pid: pid)
        }
    }

    /// Seizes and interrupts `tid`, or adopts it when the kernel attached
    /// it to us at a clone or fork. Nil when it has exited.
    private func attach(_ tid: Int32) throws -> Tracee? {
        if tasks.take(tid) {
            // Attached by the kernel at a clone or fork we saw: its first
            // stop is already on its way.
            return Tracee.adopt(tid: tid, pid: pid)
        }
        do {
            let wchan = try? ProcFile.text("/proc/\(pid)/task/\(tid)/wchan", pid: pid)
            let t = try Tracee.seize(tid: tid, pid: pid, options: [.traceClone, .traceFork, .traceVfork, .traceSysGood, .suspendSeccomp])
            if let wchan, !wchan.isEmpty, wchan != "0" { waitChannels[tid] = wchan }
            try t.interrupt()
            return t
        } catch let e as SystemError where e.errno == ESRCH || (e.errno == EPERM && Self.hasExited(tid: tid, pid: pid)) {
            return nil // the thread exited meanwhile
        } catch let e as SystemError where e.errno == EPERM {
            // Cloned by a thread already seized, and listed before its clone
            // event was read: the kernel attached it to crtool, and its
            // first stop is on its way.
            if Self.tracer(of: tid, pid: pid) == getpid() { return Tracee.adopt(tid: tid, pid: pid) }
            throw Self.tracedElsewhere(tid: tid, pid: pid) ?? e
        }
    }

    private static func tracer(of tid: Int32, pid: Int32) -> Int32? {
        (try? ProcStatus.read(pid: pid, tid: tid))?.fields["TracerPid"].flatMap { Int32($0) }
    }

    /// PTRACE_SEIZE answers EPERM, not ESRCH, for a task that has exited
    /// but is not yet reaped; a process of the tree that exits just as it
    /// is found is such a task, and is no reason to fail the dump.
    private static func hasExited(tid: Int32, pid: Int32) -> Bool {
        guard let state = (try? ProcStatus.read(pid: pid, tid: tid))?.fields["State"] else { return true }
        return state.hasPrefix("Z") || state.hasPrefix("X")
    }

    /// A task has one tracer: a debugger or strace holding a thread is the
    /// usual reason PTRACE_SEIZE answers EPERM to root.
    private static func tracedElsewhere(tid: Int32, pid: Int32) -> CheckpointError? {
        guard let tracer = tracer(of: tid, pid: pid), tracer > 0 else {
            return nil
        }
        let name = (try? ProcStat.read(pid: tracer)).map { " (\($0.command))" } ?? ""
        return CheckpointError("thread \(tid) of pid \(pid) is traced by pid \(tracer)\(name), a debugger or tracer; "
            + "a thread has one tracer, so crtool can freeze it only once that one lets go")
    }

    /// Waits for the interrupt stop. A signal that arrives first is let
    /// through (delivered as the process would have had it) and the wait
    /// goes on. A fork or clone reported meanwhile hands its new task to
    /// the tree. Returns false if the thread is gone.
    private func waitForStop(_ t: Tracee) throws -> Bool {
        while true {
            guard let stop = try t.waitStop(within: timeout) else { throw didNotStop(t.tid) }
            switch stop {
            case .eventStop(let sig):
                if sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU { wasStopped = true }
                return true
            case .signalDelivery(let sig):
                try resumeAndInterrupt(t, signal: sig)
            case .event(let e, _):
                if e == .fork || e == .clone {
                    tasks.add(Int32(truncatingIfNeeded: try t.eventMessage()))
                } else if e == .vfork {
                    try letGo(vforkChild: Int32(truncatingIfNeeded: try t.eventMessage()))
                }
                try resumeAndInterrupt(t)
            case .syscall:
                try resumeAndInterrupt(t)
            case .exited, .killed:
                return false
            }
        }
    }

    /// A vfork parent sleeps, where no stop reaches it, until its child
    /// execs or exits (posix_spawn works this way), so a child the kernel
    /// attached at the vfork and held at its first stop would hold the
    /// freeze until it timed out. The child is let go at once instead; it
    /// is found among the parent's children once the parent is stopped,
    /// and frozen like any other.
    private func letGo(vforkChild child: Int32) throws {
        let t = Tracee.adopt(tid: child, pid: child)
        guard let stop = try t.waitStop(within: timeout) else {
            throw CheckpointError("the child \(child) pid \(pid) made with vfork did not report its first stop within \(Self.format(timeout)) s; "
                + "the dump let every process go as it was")
        }
        switch stop {
        case .exited, .killed: return
        case .signalDelivery(let sig): try t.detach(signal: sig)
        default: try t.detach()
        }
    }

    /// Any ptrace stop takes the place of a pending PTRACE_INTERRUPT (the
    /// kernel clears the requested stop at every stop), so a thread let go
    /// after a fork event or a signal is asked to stop again; without it,
    /// a process forking at the wrong moment ran on, its children held
    /// stopped, until the freeze timed out.
    private func resumeAndInterrupt(_ t: Tracee, signal: Int32 = 0) throws {
        try t.resume(signal: signal)
        do {
            try t.interrupt()
        } catch let e as SystemError where e.errno == ESRCH {
            // Gone already: the next wait reports how it ended.
        }
    }

    /// Why a thread would not stop, from its state and where it sleeps.
    private func didNotStop(_ tid: Int32) -> CheckpointError {
        let state = (try? ProcStatus.read(pid: pid, tid: tid))?.fields["State"] ?? "unknown"
        let wchan = (try? ProcFile.text("/proc/\(pid)/task/\(tid)/wchan", pid: pid)).flatMap { $0.isEmpty || $0 == "0" ? nil : $0 }
        let place = wchan.map { " in \($0)" } ?? ""
        let why = state.hasPrefix("D")
            ? "it is asleep in the kernel (state \(state))\(place), where no stop reaches it: a vfork parent waits for its child to exec or exit, and a file system request may hang"
            : "it is in state \(state)\(place)"
        return CheckpointError("thread \(tid) of pid \(pid) did not stop within \(Self.format(timeout)) s: \(why); the dump let every process go as it was (--timeout waits longer)")
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// Lets the process go: running on as it was, or killed.
    func release(kill killIt: Bool) {
        if killIt {
            let handle = try? PidFD(pid: pid)
            _ = Glibc.kill(pid, SIGKILL)
            // Its memory goes faster freed from here too; the dump waits
            // for the process to be gone, so that its PIDs are free.
            try? handle?.releaseMemory()
            // Non-leader threads first: the leader's exit is reported only
            // after every other thread has been reaped.
            for t in threads.sorted(by: { ($0.tid == pid ? 1 : 0) < ($1.tid == pid ? 1 : 0) }) {
                while let stop = try? t.waitStop(), !stop.isGone {}
            }
        } else {
            for t in threads { try? t.detach() }
        }
        threads = []
    }
}

/// A process that exited between being found and being stopped.
struct ProcessVanished: Error, CustomStringConvertible {
    var pid: Int32
    var description: String { "process \(pid) exited while it was being frozen" }
}

/// Tasks the kernel attached to crtool by itself (children forked and
/// threads cloned while the tree was being frozen), waiting to be adopted.
final class AttachedTasks {
    private var pending: Set<Int32> = []
    func add(_ tid: Int32) { pending.insert(tid) }
    func take(_ tid: Int32) -> Bool { pending.remove(tid) != nil }
    var isEmpty: Bool { pending.isEmpty }
}
