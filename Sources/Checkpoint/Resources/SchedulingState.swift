import Foundation
import Ptrace

/// Scheduling state a job is often started with and must keep: `nice`,
/// `chrt`, `taskset`, `ionice` per thread, and the process's
/// oom_score_adj (services protect themselves from the OOM killer, or
/// offer themselves first). crtool reads and sets all of it from outside,
/// on thread ids, while the threads are stopped.
///
/// Setting any of it can be refused where the original could have it (a
/// CPU this host does not have, deadline bandwidth already taken): the
/// restore warns and goes on, as the process works either way.
enum SchedulingState {
    static func read(tid: Int32) throws -> ThreadScheduling {
        let attributes = try Scheduling.attributes(of: tid)
        let io = try Scheduling.ioPriority(of: tid)
        return ThreadScheduling(attributes: attributes, cpus: try Scheduling.cpus(of: tid),
                                ioPriority: io == derivedIOPriority(attributes) ? nil : io)
    }

    /// What ioprio_get reports for a thread nobody gave an I/O priority:
    /// a class from the policy (idle, real time, best effort) and a level
    /// from nice, (nice + 20) / 5.
    static func derivedIOPriority(_ a: SchedulingAttributes) -> Int32 {
        let ioClass: Int32 = a.policy == 5 ? 3 : (a.policy == 1 || a.policy == 2) ? 1 : 2
        return ioClass << 13 | (a.nice + 20) / 5
    }

    static func restore(_ s: ThreadScheduling, tid: Int32, pid: Int32, warnings: inout [String]) {
        do {
            // Every policy keeps a nice value, but only SCHED_OTHER and
            // SCHED_BATCH take one: give it that way first.
            if s.attributes.policy != 0 && s.attributes.policy != 3 {
                try Scheduling.setAttributes(SchedulingAttributes(policy: 0, flags: 0, nice: s.attributes.nice, priority: 0), of: tid)
            }
            try Scheduling.setAttributes(s.attributes, of: tid)
        } catch {
            warnings.append("thread \(tid) of pid \(pid) keeps crtool's scheduling instead of policy \(s.attributes.policy) nice \(s.attributes.nice): \(error)")
        }
        do {
            try Scheduling.setCPUs(s.cpus, of: tid)
        } catch {
            warnings.append("thread \(tid) of pid \(pid) may run on any CPU instead of \(s.cpus.map(String.init).joined(separator: ",")): \(error)")
        }
        if let io = s.ioPriority {
            do {
                try Scheduling.setIOPriority(io, of: tid)
            } catch {
                warnings.append("thread \(tid) of pid \(pid) keeps the I/O priority its nice gives instead of class \(io >> 13) level \(io & 0x1fff): \(error)")
            }
        }
    }

    /// "/autogroup-25 nice 5" read as 5; nil for 0, and where the kernel
    /// has no autogroups.
    static func readAutogroupNice(pid: Int32) -> Int32? {
        guard let text = try? ProcFile.text("/proc/\(pid)/autogroup", pid: pid),
              let nice = text.split(separator: " ").last.flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
              nice != 0 else { return nil }
        return nice
    }

    /// Sets it on the restored session leader's new autogroup.
    static func restoreAutogroupNice(_ nice: Int32, pid: Int32, warnings: inout [String]) {
        do {
            try LocalFile.writeControl("\(nice)\n", to: "/proc/\(pid)/autogroup", pid: pid)
        } catch {
            warnings.append("the session of pid \(pid) keeps autogroup nice 0 instead of \(nice): \(error)")
        }
    }

    static func readOOMScoreAdjust(pid: Int32) throws -> Int32? {
        Int32(try ProcFile.text("/proc/\(pid)/oom_score_adj", pid: pid).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func restoreOOMScoreAdjust(_ value: Int32, pid: Int32, warnings: inout [String]) {
        do {
            try LocalFile.writeControl("\(value)\n", to: "/proc/\(pid)/oom_score_adj", pid: pid)
        } catch {
            warnings.append("pid \(pid) keeps oom_score_adj \((try? readOOMScoreAdjust(pid: pid)).flatMap { $0 }.map(String.init) ?? "?") instead of \(value): \(error)")
        }
    }
}
