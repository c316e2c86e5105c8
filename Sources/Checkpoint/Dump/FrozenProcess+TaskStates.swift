import Ptrace

/// What /proc says of a thread or process while it is being frozen. A
/// freeze meets threads between states: exiting, exec'ing into the
/// leader's TID, or attached to crtool by the kernel; these say which.
extension FrozenProcess {
    static func isInTraceStop(tid: Int32, pid: Int32) -> Bool {
        (try? ProcStatus.read(pid: pid, tid: tid))?.state.hasPrefix("t") ?? false
    }

    static func tracer(of tid: Int32, pid: Int32) -> Int32? {
        (try? ProcStatus.read(pid: pid, tid: tid))?.tracerPid
    }

    /// PTRACE_SEIZE answers EPERM, not ESRCH, for a task that has exited
    /// but is not yet reaped; a process of the tree that exits just as it
    /// is found is such a task, and is no reason to fail the dump.
    static func hasExited(tid: Int32, pid: Int32) -> Bool {
        guard let state = (try? ProcStatus.read(pid: pid, tid: tid))?.state else { return true }
        return state.hasPrefix("Z") || state.hasPrefix("X")
    }

    /// A task has one tracer: a debugger or strace holding a thread is the
    /// usual reason PTRACE_SEIZE answers EPERM to root.
    static func tracedElsewhere(tid: Int32, pid: Int32) -> CheckpointError? {
        guard let tracer = tracer(of: tid, pid: pid), tracer > 0 else {
            return nil
        }
        let name = (try? ProcStat.read(pid: tracer)).map { " (\($0.command))" } ?? ""
        return CheckpointError("thread \(tid) of pid \(pid) is traced by pid \(tracer)\(name), a debugger or tracer; "
            + "a thread has one tracer, so crtool can freeze it only once that one lets go")
    }

    /// Whether the whole process has ended and waits to be reaped, not
    /// just its main thread. A process whose leader reads as a zombie is
    /// often one where a thread is exec'ing: the kernel ends the leader
    /// and gives its TID to that thread a moment later, so the state is
    /// read again after the threads are looked at.
    static func isZombie(pid: Int32) -> Bool {
        // A zombie process lists its leader alone; an exec in progress
        // may list nothing for a moment.
        guard let listed = try? ProcDirectory.threads(pid: pid), listed.contains(pid),
              !listed.contains(where: { $0 != pid && !hasExited(tid: $0, pid: pid) }) else { return false }
        return (try? ProcStat.read(pid: pid))?.state == "Z"
    }

    /// The process is a zombie or gone altogether.
    static func hasEnded(pid: Int32) -> Bool {
        guard let state = (try? ProcStat.read(pid: pid))?.state else { return true }
        guard state == "Z" || state == "X" else { return false }
        return isZombie(pid: pid) || (try? ProcStat.read(pid: pid)) == nil
    }
}
