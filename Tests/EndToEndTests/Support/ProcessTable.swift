import Foundation
import Glibc

/// What /proc says about a process: enough to tell whether a PID is taken,
/// whether it runs, who its parent and tracer are, and which threads it has.
enum ProcessTable {
    struct Stat {
        let state: Character
        let ppid: pid_t
        let flags: UInt
        /// User and system time so far, in clock ticks.
        let cpuTicks: UInt64
    }

    static func stat(_ pid: pid_t) -> Stat? {
        guard let text = readTextFile("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return nil }
        // The command name may hold spaces and parentheses; fields after it do not.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let state = fields[0].first, let ppid = pid_t(fields[1]), let flags = UInt(fields[6]),
              let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return Stat(state: state, ppid: ppid, flags: flags, cpuTicks: user + system)
    }

    /// A zombie still holds its PID but will never run again.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let s = stat(pid) else { return false }
        if s.state != "Z" && s.state != "X" { return true }
        // A leader reads as a zombie for a moment while another of its
        // threads execs and takes its TID: the threads, then the state again.
        let threadLives = threadIds(of: pid).contains { tid in
            tid != pid && !(readTextFile("/proc/\(pid)/task/\(tid)/stat").map { $0.contains(") Z ") || $0.contains(") X ") } ?? true)
        }
        guard !threadLives, let again = stat(pid) else { return threadLives }
        return again.state != "Z" && again.state != "X"
    }

    /// Free means the kernel would hand the PID out again: not even a zombie.
    static func isFree(_ pid: pid_t) -> Bool {
        Glibc.kill(pid, 0) != 0 && errno == ESRCH
    }

    static func isStopped(_ pid: pid_t) -> Bool {
        guard let s = stat(pid) else { return false }
        return s.state == "T" || s.state == "t"
    }

    static func statusField(_ pid: pid_t, _ name: String) -> String? {
        guard let text = readTextFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    static func tracer(of pid: pid_t) -> pid_t? {
        statusField(pid, "TracerPid").flatMap { pid_t($0) }
    }

    static func threadIds(of pid: pid_t) -> [pid_t] {
        directoryEntries("/proc/\(pid)/task").compactMap { pid_t($0) }.sorted()
    }

    /// Each thread's pids (NSpid), from crtool's namespace down to its
    /// own, by process, threads in tid order.
    static func namespacePids(of pids: [pid_t]) -> [pid_t: [[Int32]]] {
        var result: [pid_t: [[Int32]]] = [:]
        for pid in pids {
            result[pid] = threadIds(of: pid).map { tid in
                statusField(tid, "NSpid").map { $0.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) } } ?? []
            }
        }
        return result
    }

    static func allPids() -> [pid_t] {
        directoryEntries("/proc").compactMap { pid_t($0) }
    }

    static func children(of parent: pid_t) -> [pid_t] {
        allPids().filter { stat($0)?.ppid == parent }
    }

    /// Every process below `root`, children before grandchildren.
    static func descendants(of root: pid_t) -> [pid_t] {
        var parentOf: [pid_t: pid_t] = [:]
        for pid in allPids() {
            if let s = stat(pid) { parentOf[pid] = s.ppid }
        }
        var result: [pid_t] = []
        var frontier = [root]
        while !frontier.isEmpty {
            let next = parentOf.filter { frontier.contains($0.value) }.map(\.key).sorted()
            result += next
            frontier = next
        }
        return result
    }

    /// A kernel thread to try to checkpoint: kthreadd (PID 2) when this PID
    /// namespace shows it, else any process with PF_KTHREAD.
    static func kernelThread() -> pid_t? {
        let pfKthread: UInt = 0x0020_0000
        if let s = stat(2), s.flags & pfKthread != 0 { return 2 }
        return allPids().sorted().first { (stat($0)?.flags ?? 0) & pfKthread != 0 }
    }

    /// A PID nothing holds right now, from the top of the range where the
    /// kernel hands PIDs out last.
    static func unusedPid() -> pid_t {
        let max = readTextFile("/proc/sys/kernel/pid_max").flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 32768
        var pid = max - 1
        while pid > 300 && !isFree(pid) { pid -= 1 }
        return pid
    }

    private static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
