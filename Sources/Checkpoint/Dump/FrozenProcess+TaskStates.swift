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

    /// The process is a zombie or gone altogether: not just its main
    /// thread, which a thread's exec ends a moment before it takes the
    /// main thread's PID (see `PidFD.processHasEnded`).
    static func hasEnded(pid: Int32) -> Bool {
        PidFD.processHasEnded(pid: pid)
    }
}
