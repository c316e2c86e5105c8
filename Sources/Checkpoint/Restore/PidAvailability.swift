import Foundation
import Glibc
import Ptrace

/// Waiting for a PID to become free: the original may still be exiting,
/// or waiting for its parent to reap it.
enum PidAvailability {
    static func waitUntilFree(_ id: Int32, seconds: Double, role: String) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while ProcFile.exists("/proc/\(id)") || kill(id, 0) == 0 {
            if Date() > deadline {
                let holder = (try? ProcStat.read(pid: id)).map { " by \($0.command) (state \($0.state))" } ?? ""
                let asThread = (try? ProcStat.read(pid: id)) == nil ? " as a thread of another process" : ""
                throw CheckpointError("PID \(id) is in use\(holder)\(asThread); cannot restore \(role) \(id) while it exists")
            }
            usleep(10_000)
        }
    }
}
