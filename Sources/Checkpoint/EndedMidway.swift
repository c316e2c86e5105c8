import Foundation
import Glibc
import Ptrace

/// A dump or restore that failed because a process it worked on ended
/// under it (killed from outside, most often) says that first. The /proc
/// read or ptrace request that met the dead process failed with ENOENT or
/// ESRCH, which alone reads like a fault of crtool's.
public struct EndedMidway: Error, CustomStringConvertible, Sendable {
    public struct Ended: Sendable, Equatable {
        public var pid: Int32
        /// Nil once the process is reaped: /proc has nothing left of it.
        public var command: String?
        /// Nil when it was reaped before crtool could read its status.
        public var ending: ChildEnding?
    }

    /// "dump", "pre-dump" or "restore".
    public var operation: String
    public var ended: [Ended]
    /// What the failure path left, for the message.
    public var outcome: String
    /// The error the dead process caused, as it was.
    public var cause: String

    public var description: String {
        let who = ended.map { e in
            let name = e.command.map { "pid \(e.pid) (\($0))" } ?? "pid \(e.pid)"
            return name + (e.ending.map { " \($0.pastTense)" } ?? " ended")
        }
        return "\(who.joined(separator: ", ")) during the \(operation); \(outcome) (the \(operation) failed at: \(cause))"
    }

    /// `error` as an EndedMidway when any of `pids` has ended; otherwise
    /// `error` itself. Read while crtool still traces them: a traced
    /// process that dies stays a zombie, with its status, until its tracer
    /// lets it go to its parent. `names` gives the command a process is
    /// known by where /proc would name something else (a restored
    /// process, before it takes its name back). `outcome` is told whether
    /// any of `pids` lives on. An interruption is kept as it is: its
    /// signal decides crtool's exit status.
    static func explaining(_ error: Error, operation: String, pids: [Int32], names: [Int32: String] = [:],
                           outcome: (_ othersLive: Bool) -> String) -> Error {
        if error is Interrupted || error is EndedMidway { return error }
        let dying = pids.filter { FrozenProcess.hasEnded(pid: $0) || killPending($0) }
        guard !dying.isEmpty else { return error }
        // One being killed frees its memory before it reads as a zombie,
        // whose status names the signal: a moment is given for that.
        let deadline = Date().addingTimeInterval(0.5)
        while Date() < deadline, !dying.allSatisfy({ FrozenProcess.hasEnded(pid: $0) }) { usleep(5000) }
        let ended = dying.map { pid in
            let stat = try? ProcStat.read(pid: pid)
            return Ended(pid: pid, command: names[pid] ?? stat?.command, ending: stat?.ending ?? (killPending(pid) ? .killed(signal: SIGKILL) : nil))
        }
        return EndedMidway(operation: operation, ended: ended, outcome: outcome(Set(pids).count > ended.count), cause: "\(error)")
    }

    /// The outcome of a dump or pre-dump that failed this way.
    static func dumpOutcome(othersLive: Bool) -> String {
        "no image was kept" + (othersLive ? ", and the rest of the tree runs on as it was" : "")
    }

    /// SIGKILL pending for the process: it is on its way out, and no
    /// stop or injected call will reach it again.
    private static func killPending(_ pid: Int32) -> Bool {
        guard let status = try? ProcStatus.read(pid: pid) else { return false }
        return (status.signalsPending | status.signalsPendingShared) & (UInt64(1) << (SIGKILL - 1)) != 0
    }
}

extension ChildEnding {
    /// "was killed by SIGKILL", "exited with status 3".
    var pastTense: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .killed(let sig): return "was killed by \(SignalNames.name(sig))"
        }
    }
}
