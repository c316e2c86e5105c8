import Glibc

/// Who a process is in the tree: parent, process group, session, state.
/// A tree restore must give every process back exactly these.
struct ProcessIdentity: Equatable, CustomStringConvertible {
    let pid: pid_t
    let ppid: pid_t
    let pgid: pid_t
    let sid: pid_t
    let state: Character

    static func of(_ pid: pid_t) -> ProcessIdentity? {
        guard let text = readTextFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(after: close)...].split(separator: " ")
        guard f.count > 4, let state = f[0].first, let ppid = pid_t(f[1]), let pgid = pid_t(f[2]), let sid = pid_t(f[3]) else { return nil }
        return ProcessIdentity(pid: pid, ppid: ppid, pgid: pgid, sid: sid, state: state == "Z" ? "Z" : "R")
    }

    /// The tree under `root`, root first, sorted by pid.
    static func tree(_ root: pid_t) -> [ProcessIdentity] {
        ([root] + ProcessTable.descendants(of: root).sorted()).compactMap { of($0) }
    }

    var description: String { "\(pid)(ppid \(ppid) pgid \(pgid) sid \(sid) \(state))" }
}
