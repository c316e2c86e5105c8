import Foundation
import Glibc
import Ptrace

/// Waiting for a PID to become free: the original may still be exiting,
/// or waiting for its parent to reap it.
enum PidAvailability {
    static func waitUntilFree(_ id: Int32, seconds: Double, role: String) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !looksFree(id) {
            if Date() > deadline {
                let stat = try? ProcStat.read(pid: id)
                let holder = stat.map { " by \($0.command) (state \($0.state))" } ?? " as a thread of another process"
                // A dumped process stays a zombie until its parent reaps
                // it: name the parent, whose wait is what is missing.
                let unreaped = stat.flatMap { s in
                    s.state == "Z" ? " (a zombie that its parent, pid \(s.ppid)\((try? ProcStat.read(pid: s.ppid)).map { " (\($0.command))" } ?? ""), has not reaped)" : nil
                } ?? ""
                throw CheckpointError("PID \(id) is in use\(holder)\(unreaped); cannot restore \(role) \(id) while it exists")
            }
            try Interrupted.check("nothing was restored")
            usleep(10_000)
        }
    }

    /// Runs `attempt` (a clone3 asking for `id`, true when it found the
    /// number taken) again for up to three seconds while no task has the
    /// number: the kernel may release it a little after the task that had
    /// it is reaped (seen with a process of thousands of descriptors).
    static func retryWhileLingering(_ id: Int32, _ attempt: () throws -> Bool) rethrows {
        let deadline = Date().addingTimeInterval(3)
        while try attempt(), Date() < deadline, looksFree(id) {
            usleep(10_000)
        }
    }

    /// No process, thread or zombie has `id`.
    static func looksFree(_ id: Int32) -> Bool {
        !ProcFile.exists("/proc/\(id)") && kill(id, 0) != 0
    }

    /// Why clone3 found `id` taken when no process or thread has it: a
    /// process group or session still carries that number while any
    /// process is in it (a job's other processes, a shell's session).
    static func groupOrSessionHolding(_ id: Int32) -> String {
        let members = ((try? ProcDirectory.numbers("/proc")) ?? []).compactMap { try? ProcStat.read(pid: $0) }
            .filter { $0.pgid == id || $0.sid == id }
        guard let member = members.first else { return " (the id is in use)" }
        let what = member.pgid == id ? "process group" : "session"
        return " (the id is still the \(what) of pid \(member.pid) (\(member.command))\(members.count > 1 ? " and \(members.count - 1) more" : ""), "
            + "which outlived the dumped process; a pid is free again only once its group and session are empty)"
    }
}
