import Glibc

/// Waiting for children of the bench: the fixture it spawned, and the
/// process a detached restore leaves behind (created by the restore, so
/// also a child of this process). Reaping is what frees a PID, and the
/// restore needs the dumped PID free.
enum ChildReaper {
    /// Waits up to `timeout` seconds for `pid` to end and reaps it.
    /// Returns false if it is still running then. ECHILD means it was
    /// reaped already.
    static func reap(_ pid: pid_t, timeout: Double) throws -> Bool {
        let watch = Stopwatch()
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) { return true }
            if r < 0 && errno != EINTR { throw BenchError.system("waitpid(\(pid))") }
            if watch.seconds > timeout { return false }
            usleep(2_000)
        }
    }

    /// SIGKILL, then reap: the end of every process the bench started.
    static func killAndReap(_ pid: pid_t) throws {
        _ = kill(pid, SIGKILL)
        guard try reap(pid, timeout: 30) else {
            throw BenchError("pid \(pid) did not die within 30 s of SIGKILL")
        }
    }

    /// Whether `pid` still runs (a zombie does not).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].dropFirst().first
        return state != "Z" && state != "X"
    }
}
