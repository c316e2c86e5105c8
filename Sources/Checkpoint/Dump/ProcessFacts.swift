import Foundation
import Ptrace

/// What /proc and the scheduler tell of a frozen process without asking
/// the process itself. Only the thread that froze a tree can make calls
/// into it, one process after another; these reads need no such thread,
/// so they are made on the dump's workers with the layouts, and a tree of
/// hundreds of processes is not held frozen for them one by one.
struct ProcessFacts {
    var stat: ProcStat
    /// Read before anything is injected: the first injected call resets
    /// an ignored SIGTRAP, which `signalsIgnored` still shows here.
    var status: ProcStatus
    var executable: String
    var cwd: String
    var root: String
    var personality: UInt32
    var limits: [ResourceLimit]
    var auxv: [UInt64]
    var oomScoreAdjust: Int32?
    var autogroupNice: Int32?
    var cgroups: [CgroupMembership]
    var loginUID: UInt32?
    var coredumpFilter: UInt32?
    var mappedFiles: [MappedFileImage]
    var threads: [Int32: ThreadFacts]

    static func read(_ frozen: FrozenProcess, vmas: [VMAImage]) throws -> ProcessFacts {
        let pid = frozen.pid
        let stat = try ProcStat.read(pid: pid)
        /// A /proc file of one value, trimmed.
        func value(_ name: String) throws -> String {
            try ProcFile.text("/proc/\(pid)/\(name)", pid: pid).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var threads: [Int32: ThreadFacts] = [:]
        for t in frozen.threads { threads[t.tid] = try ThreadFacts.read(pid: pid, tid: t.tid) }
        return ProcessFacts(
            stat: stat,
            status: try ProcStatus.read(pid: pid),
            executable: try ProcFile.link("/proc/\(pid)/exe", pid: pid),
            cwd: try ReachableWorkingDirectory.of(pid: pid),
            root: try ProcFile.link("/proc/\(pid)/root", pid: pid),
            personality: UInt32(try value("personality"), radix: 16) ?? 0,
            limits: try Limits.read(pid: pid),
            auxv: try Auxv.read(pid: pid),
            oomScoreAdjust: try SchedulingState.readOOMScoreAdjust(pid: pid),
            autogroupNice: stat.sid == pid ? SchedulingState.readAutogroupNice(pid: pid) : nil,
            cgroups: try CgroupMembership.read(pid: pid),
            loginUID: UInt32(try value("loginuid")),
            coredumpFilter: UInt32(try value("coredump_filter"), radix: 16),
            mappedFiles: MappedFiles.identities(of: vmas, pid: pid),
            threads: threads)
    }
}

/// The /proc side of one thread.
struct ThreadFacts {
    var name: String
    var status: ProcStatus
    var scheduling: ThreadScheduling

    static func read(pid: Int32, tid: Int32) throws -> ThreadFacts {
        let name = (try? ProcFile.text("/proc/\(pid)/task/\(tid)/comm", pid: pid)) ?? ""
        return ThreadFacts(name: name.trimmingCharacters(in: .newlines),
                           status: try ProcStatus.read(pid: pid, tid: tid),
                           scheduling: try SchedulingState.read(tid: tid))
    }
}
