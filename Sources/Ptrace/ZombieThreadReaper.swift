import CSupport
import Foundation

/// Reaps the threads of one process that a given tracer thread traces
/// and that have exited but are not yet reaped.
///
/// An exec from one thread kills the others and waits until each is
/// gone; a thread crtool traces is gone only once crtool reaps it. While
/// the tracer waits for some other thread's stop, or is stuck in a
/// PTRACE_SEIZE that waits for that exec, nobody reaps them and the exec
/// waits forever. Any thread of the tracer's process may reap them, and
/// this does, remembering which, so that the tracer can tell a thread
/// reaped here (waitpid answers ECHILD) from one that exec'd.
public final class ZombieThreadReaper: @unchecked Sendable {
    public let pid: Int32
    /// /proc/TID/status names this thread (a TID) as the tracer.
    public let tracer: Int32
    private let lock = NSLock()
    private var reaped: Set<Int32> = []

    public init(pid: Int32, tracer: Int32) {
        self.pid = pid
        self.tracer = tracer
    }

    /// Reaps every thread of the process but its leader that is a zombie
    /// traced by `tracer`. A leader is never reaped here: an exec frees
    /// it by itself.
    public func reap() {
        for tid in (try? ProcDirectory.threads(pid: pid)) ?? [] where tid != pid {
            guard let status = try? ProcStatus.read(pid: pid, tid: tid),
                  status.state.hasPrefix("Z"), status.tracerPid == tracer,
                  cr_reap_if_exited(tid) == 1 else { continue }
            lock.lock()
            reaped.insert(tid)
            lock.unlock()
        }
    }

    /// Whether `tid` was reaped here.
    public func reapedExit(of tid: Int32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return reaped.contains(tid)
    }
}
