import Foundation

extension ProcessTable {
    /// What each thread of `root` and its descendants is doing, a line a
    /// thread: state, the kernel function it waits in, the system call it is
    /// in, and signals pending or blocked. A wait that times out shows this,
    /// so a process that stopped answering says whether it is stopped,
    /// asleep in a read, or spinning.
    static func describeTree(_ root: pid_t) -> String {
        let pids = [root] + descendants(of: root)
        var lines: [String] = []
        for pid in pids {
            guard let s = stat(pid) else {
                lines.append("  pid \(pid): gone")
                continue
            }
            let signals = ["SigPnd", "ShdPnd", "SigBlk"].compactMap { name in
                statusField(pid, name).map { "\(name) \($0)" }
            }.joined(separator: ", ")
            let tracer = tracer(of: pid).map { $0 == 0 ? "" : ", traced by \($0)" } ?? ""
            lines.append("  pid \(pid) (parent \(s.ppid)): state \(s.state)\(tracer); \(signals)")
            for tid in threadIds(of: pid) {
                let task = "/proc/\(pid)/task/\(tid)"
                let state = readTextFile("\(task)/stat").flatMap { text in
                    text.lastIndex(of: ")").map { text[text.index($0, offsetBy: 2)...].prefix(1) }
                }.map(String.init) ?? "?"
                let wchan = readTextFile("\(task)/wchan") ?? "?"
                let syscall = readTextFile("\(task)/syscall")?.split(separator: " ").first.map(String.init) ?? "?"
                lines.append("    thread \(tid): state \(state), waiting in \(wchan.isEmpty ? "-" : wchan), syscall \(syscall)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
