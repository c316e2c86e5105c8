import Glibc
import Ptrace

/// Every thread of one process held in a ptrace stop. Threads created
/// while the freeze is under way are caught: the task list is read again
/// until no new thread shows up, and clone events attach newcomers. A
/// thread that execs meanwhile replaces the whole process under the
/// leader's TID, and the new image is frozen in its place.
final class FrozenProcess {
    let pid: Int32
    private(set) var threads: [Tracee] = []
    /// The process was in a job-control stop (SIGSTOP) when frozen.
    private(set) var wasStopped = false
    /// Where each thread seized here was waiting just before its stop
    /// (/proc/PID/task/TID/wchan), for `SyscallRestart.restartedCall`.
    private(set) var waitChannels: [Int32: String] = [:]
    private let tasks: AttachedTasks
    /// Reaps threads killed by an exec, which waits for them (see
    /// ZombieThreadReaper), while a seize waits on that exec.
    private let seizeWatch = SeizeWatch()
    private lazy var reaper = ZombieThreadReaper(pid: pid, tracer: Tracee.callingThreadID)
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
        // Threads whose exec the leader has reported (PTRACE_EVENT_EXEC
        // gives the former TID).
        var execed: Set<Int32> = []
        // Passes in which a thread could not be seized for a moment.
        var retries = 0
        defer { seizeWatch.stop() }
        do {
            // Read the task list again once every thread known is stopped:
            // a thread cloned meanwhile is listed by then, and none can be
            // cloned after.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(Self.wholeFreezeTimeouts * timeout)
            while true {
                // Each thread stops within the timeout; a process whose
                // threads are made, exec or are replaced as fast as they
                // are stopped would hold every pass, not any one thread.
                if clock.now >= deadline { throw didNotHoldStill() }
                let listed = try ProcDirectory.threads(pid: pid)
                let fresh = listed.filter { known[$0] == nil && !gone.contains($0) }
                let allStopped = fresh.isEmpty && stopped.count == known.count
                // While a thread that exec'd takes the leader's TID from the
                // old leader the exec killed, the task list may show nothing,
                // or every thread but the leader, for a moment: look again
                // rather than take the process for gone.
                if (listed.isEmpty || (allStopped && known[pid] == nil)) && !Self.hasEnded(pid: pid) {
                    retries += 1
                    if retries > Self.seizeRetries { throw ProcessVanished(pid: pid) }
                    usleep(1000)
                    continue
                }
                if allStopped {
                    // An exec since a thread stopped kills it without a
                    // word to us, and a thread that exec'd before it was
                    // seized takes the leader's TID untraced: each shows
                    // as a thread that no longer answers as our stopped
                    // tracee.
                    let lost = known.filter { (try? $0.value.eventMessage()) == nil }
                    if lost.isEmpty { break }
                    for (tid, t) in lost {
                        known[tid] = nil
                        stopped.remove(tid)
                        waitChannels[tid] = nil
                        guard tid != pid else { continue }
                        gone.insert(tid)
                        // Killed: its exit is reported to us, and the exec
                        // waits until it is reaped.
                        while let stop = try? t.waitStop(within: timeout), !stop.isGone {}
                    }
                    continue
                }
                for tid in fresh {
                    switch try attach(tid) {
                    case .attached(let t): known[tid] = t
                    case .gone where tid == pid && !Self.hasEnded(pid: pid):
                        // The old leader, killed by a thread's exec as it
                        // was seized: its TID passes to that thread, which
                        // the next pass seizes.
                        retries += 1
                        if retries > Self.seizeRetries { throw ProcessVanished(pid: pid) }
                    case .gone: gone.insert(tid)
                    case .notYet(let error):
                        retries += 1
                        if retries > Self.seizeRetries { throw error }
                        usleep(1000)
                    }
                }
                for (tid, t) in known.sorted(by: { $0.key < $1.key }) where !stopped.contains(tid) {
                    switch try waitForStop(t) {
                    case .stopped:
                        stopped.insert(tid)
                    case .gone where tid == pid && !Self.hasEnded(pid: pid):
                        // The old leader, killed by a thread's exec, whose
                        // death was reported before its TID passed on.
                        known[tid] = nil
                        waitChannels[tid] = nil
                    case .gone:
                        known[tid] = nil
                        gone.insert(tid)
                    case .execed(let former):
                        // The leader's TID now holds the new image, stopped
                        // after it; the former TID is gone.
                        execed.insert(former)
                        waitChannels[tid] = nil
                        stopped.insert(tid)
                    case .replaced:
                        // The thread exec'd, took the leader's TID, and the
                        // kernel killed the old leader: the leader must be
                        // stopped again, or seized anew if the thread that
                        // exec'd was not traced by us.
                        known[tid] = nil
                        waitChannels[tid] = nil
                        if tid != pid { gone.insert(tid) }
                        if !execed.contains(tid) {
                            stopped.remove(pid)
                            waitChannels[pid] = nil
                        }
                    }
                }
            }
            // Clone events of threads adopted before their event was read.
            for tid in known.keys { _ = tasks.take(tid) }
        } catch {
            threads = Array(known.values)
            release()
            throw error
        }
        threads = known.values.sorted { ($0.tid == pid ? 0 : 1, $0.tid) < ($1.tid == pid ? 0 : 1, $1.tid) }
        guard threads.contains(where: { $0.tid == pid }) else {
            release()
            throw ProcessVanished(pid: pid)
        }
    }

    private enum Attach {
        case attached(Tracee)
        /// The thread exited meanwhile.
        case gone
        /// The thread could not be seized just now, for a reason that
        /// passes: the next pass tries again.
        case notYet(Error)
    }

    /// Every fork, clone and exec of a seized thread is reported, and its
    /// seccomp filters do not apply to the calls crtool injects.
    static let seizeOptions: PtraceOptions = [.traceClone, .traceFork, .traceVfork, .traceExec, .traceSysGood, .suspendSeccomp]

    /// How many times a freeze tries again to seize a thread that refuses
    /// for a moment, a millisecond apart.
    static let seizeRetries = 1000

    /// Seizes and interrupts `tid`, or adopts it when the kernel attached
    /// it to us at a clone or fork. The seize cannot wait forever on an
    /// exec (SeizeWatch).
    private func attach(_ tid: Int32) throws -> Attach {
        if tasks.take(tid) {
            // Attached by the kernel at a clone or fork we saw: its first
            // stop is already on its way.
            return .attached(Tracee.adopt(tid: tid, pid: pid))
        }
        do {
            let wchan = try? ProcFile.text("/proc/\(pid)/task/\(tid)/wchan", pid: pid)
            let t = try seizeWatch.seizing(reapingWith: reaper) { try Tracee.seize(tid: tid, pid: pid, options: Self.seizeOptions) }
            if let wchan, !wchan.isEmpty, wchan != "0" { waitChannels[tid] = wchan }
            try t.interrupt()
            return .attached(t)
        } catch let e as SystemError where e.errno == ESRCH {
            return .gone
        } catch let e as SystemError where e.errno == EPERM {
            if Self.hasExited(tid: tid, pid: pid) {
                // A leader that has ended while threads of its process run
                // on: for a moment, while a thread that exec'd takes its
                // TID; for good, after pthread_exit in main.
                if tid == pid && !Self.hasEnded(pid: pid) { return .notYet(leaderEnded()) }
                return .gone
            }
            switch Self.tracer(of: tid, pid: pid) {
            case Tracee.callingThreadID:
                // Attached to crtool by the kernel: cloned by a thread
                // already seized and listed before its clone event was
                // read (its first stop is on its way), or a thread that
                // exec'd and took the TID of a leader crtool traced (no
                // stop is, unless asked for).
                let t = Tracee.adopt(tid: tid, pid: pid)
                if !Self.isInTraceStop(tid: tid, pid: pid) { try? t.interrupt() }
                return .attached(t)
            case 0?:
                // Refused though nobody traces it and it runs: the leader,
                // dead for a moment while a thread that exec'd takes its TID.
                return .notYet(e)
            default:
                throw Self.tracedElsewhere(tid: tid, pid: pid) ?? e
            }
        }
    }

    private func leaderEnded() -> CheckpointError {
        CheckpointError("the main thread of pid \(pid) has ended while other threads of the process run on "
            + "(main called pthread_exit); crtool cannot dump a process without its main thread")
    }

    private enum Wait {
        case stopped
        /// The thread exited.
        case gone
        /// The leader reported an exec by the thread `former` (itself or
        /// another), and is stopped in the new image.
        case execed(former: Int32)
        /// The TID is no longer ours: the thread exec'd and became the
        /// leader, or, for the leader, a thread that exec'd and was not
        /// yet traced took its place.
        case replaced
    }

    /// Waits for the interrupt stop. A signal that arrives first is let
    /// through (delivered as the process would have had it) and the wait
    /// goes on. A fork or clone reported meanwhile hands its new task to
    /// the tree.
    private func waitForStop(_ t: Tracee) throws -> Wait {
        var execedFrom: Int32?
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(timeout)
        while true {
            let next: Stop?
            do {
                next = try t.waitStop(within: Self.tracerCheckInterval)
            } catch let e as SystemError where e.errno == ECHILD {
                return reaper.reapedExit(of: t.tid) ? .gone : .replaced
            }
            guard let stop = next else {
                // An exec that killed threads ours waits for them to be
                // reaped before the leader can stop.
                reaper.reap()
                if reaper.reapedExit(of: t.tid) { return .gone }
                // waitpid answers ECHILD for a TID that is no longer ours,
                // but not when the process is our own child (a test's
                // fixture): the tracer is looked at too.
                if Self.tracer(of: t.tid, pid: pid) != Tracee.callingThreadID { return .replaced }
                if clock.now >= deadline { throw didNotStop(t.tid) }
                try Interrupted.check(Interrupted.dumpGivenUp)
                continue
            }
            switch stop {
            case .eventStop(let sig):
                if sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU { wasStopped = true }
                return execedFrom.map { .execed(former: $0) } ?? .stopped
            case .signalDelivery(let sig):
                try resumeAndInterrupt(t, signal: sig)
            case .event(let e, _):
                if e == .fork || e == .clone {
                    tasks.add(Int32(truncatingIfNeeded: try t.eventMessage()))
                } else if e == .vfork {
                    try letGo(vforkChild: Int32(truncatingIfNeeded: try t.eventMessage()))
                } else if e == .exec {
                    // Stopped at the end of execve: the new image's first
                    // instruction comes after the interrupt stop asked for
                    // next, where it is frozen like any thread.
                    execedFrom = Int32(truncatingIfNeeded: try t.eventMessage())
                }
                try resumeAndInterrupt(t)
            case .syscall:
                try resumeAndInterrupt(t)
            case .exited, .killed:
                return .gone
            }
            // A thread that reports one event after another is not stopped either.
            if clock.now >= deadline { throw didNotStop(t.tid) }
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
    /// How many timeouts the whole freeze of a process may take.
    static let wholeFreezeTimeouts = 2.0

    private func didNotHoldStill() -> CheckpointError {
        CheckpointError("pid \(pid) did not hold still within \(Self.format(Self.wholeFreezeTimeouts * timeout)) s: its threads were made, exec'd "
            + "or replaced as fast as they were stopped; the dump let every process go as it was (--timeout waits longer)")
    }

    private func didNotStop(_ tid: Int32) -> CheckpointError {
        let state = (try? ProcStatus.read(pid: pid, tid: tid))?.state ?? "unknown"
        let wchan = (try? ProcFile.text("/proc/\(pid)/task/\(tid)/wchan", pid: pid)).flatMap { $0.isEmpty || $0 == "0" ? nil : $0 }
        let place = wchan.map { " in \($0)" } ?? ""
        let why = state.hasPrefix("D")
            ? "it is asleep in the kernel (state \(state))\(place), where no stop reaches it: a vfork parent waits for its child to exec or exit, and a file system request may hang"
            : "it is in state \(state)\(place)"
        return CheckpointError("thread \(tid) of pid \(pid) did not stop within \(Self.format(timeout)) s: \(why); the dump let every process go as it was (--timeout waits longer)")
    }

    /// How often a wait that has seen no stop checks that the thread is
    /// still traced by crtool.
    static let tracerCheckInterval = 0.05

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// Lets the process go on as it was.
    func release() {
        for t in threads { try? t.detach() }
        threads = []
    }

    /// Kills the process. `waitingForExit` waits until every thread has
    /// exited, which a parent in the tree needs before it can reap the
    /// process; the kernel frees the memory first, and process_mrelease
    /// from here shares that work. Otherwise nothing waits while the
    /// kernel frees the memory (a tenth of a second or more for
    /// gigabytes): the exit goes to the process's own parent once the
    /// tracer thread ends, which lets go of every tracee it still has.
    func kill(waitingForExit: Bool) {
        guard waitingForExit else {
            _ = Glibc.kill(pid, SIGKILL)
            threads = []
            return
        }
        let handle = try? PidFD(pid: pid)
        _ = Glibc.kill(pid, SIGKILL)
        try? handle?.releaseMemory()
        // Non-leader threads first: the leader's exit is reported only
        // after every other thread has been reaped.
        for t in threads.sorted(by: { ($0.tid == pid ? 1 : 0) < ($1.tid == pid ? 1 : 0) }) {
            while let stop = try? t.waitStop(), !stop.isGone {}
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

    /// Lets go of the tasks never adopted (a thread cloned and killed by
    /// an exec before it was listed, children of a freeze that failed):
    /// each is held at its first stop, or has exited and waits to be
    /// reaped, by the thread that froze the tree.
    func release() {
        for tid in pending {
            let t = Tracee.adopt(tid: tid, pid: tid)
            if let stop = try? t.waitStop(within: 1), !stop.isGone { try? t.detach() }
        }
        pending = []
    }
}
