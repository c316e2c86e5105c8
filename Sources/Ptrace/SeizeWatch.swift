import Foundation

/// Keeps a PTRACE_SEIZE from waiting forever on an exec.
///
/// PTRACE_SEIZE takes the target process's cred_guard_mutex. An exec
/// holds that mutex while it waits for the other threads of its process
/// to be gone, and a thread crtool traces is gone only once crtool has
/// reaped it. So a tracer that seizes a thread of a process in which
/// another thread has begun to exec waits for the exec, and the exec for
/// the tracer. When a seize takes longer than `patience`, a thread of
/// this watch reaps for the tracer (`ZombieThreadReaper`), and the exec
/// goes on.
public final class SeizeWatch: @unchecked Sendable {
    private let condition = NSCondition()
    private var reaper: ZombieThreadReaper?
    private var seizingSince: ContinuousClock.Instant?
    private var running = false
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private let patience: Duration

    public init(patience: Duration = .milliseconds(20)) {
        self.patience = patience
    }

    /// Runs `seize` while the watch may use `reaper`, whose tracer is the
    /// calling thread (which reaps nothing itself meanwhile).
    public func seizing<T>(reapingWith reaper: ZombieThreadReaper, _ seize: () throws -> T) rethrows -> T {
        condition.lock()
        if !running {
            running = true
            Thread.detachNewThread { [self] in watch() }
        }
        self.reaper = reaper
        seizingSince = ContinuousClock().now
        condition.signal()
        condition.unlock()
        defer {
            // Taken only once the watch is between two reaps.
            condition.lock()
            seizingSince = nil
            condition.unlock()
        }
        return try seize()
    }

    /// Ends the watch's thread, if it was started.
    public func stop() {
        condition.lock()
        let wasRunning = running
        stopping = true
        condition.signal()
        condition.unlock()
        if wasRunning { finished.wait() }
    }

    private func watch() {
        let clock = ContinuousClock()
        condition.lock()
        while !stopping {
            guard let since = seizingSince else {
                condition.wait()
                continue
            }
            if clock.now - since >= patience { reaper?.reap() }
            _ = condition.wait(until: Date().addingTimeInterval(0.002))
        }
        condition.unlock()
        finished.signal()
    }
}
