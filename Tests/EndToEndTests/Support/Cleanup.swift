import Glibc

/// Puts the test process in charge of everything it starts: with the
/// child-subreaper flag, a process crtool restores and leaves running is
/// re-parented to the test when crtool exits (instead of to PID 1, which
/// reaps slowly), so the test can kill it, reap it, and see its PID free.
func becomeChildSubreaper() throws {
    guard LibC.prctl(LibC.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 else {
        throw HarnessError("PR_SET_CHILD_SUBREAPER: \(errnoText())")
    }
}

/// Kills and reaps every process below this one except the subtrees of
/// `keep` (children that existed before the test). Repeats because killing
/// a crtool hands its children to us only as it dies. Returns what it found,
/// so a leak can be reported.
@discardableResult
func killDescendants(keeping keep: Set<pid_t>, timeout: Double = 10) -> [pid_t] {
    let me = getpid()
    var seen: [pid_t] = []
    func strays() -> [pid_t] {
        let kept = keep.union(keep.flatMap { ProcessTable.descendants(of: $0) })
        return ProcessTable.descendants(of: me).filter { !kept.contains($0) }
    }
    poll(timeout: timeout, every: 0.02) {
        let found = strays()
        for pid in found {
            if !seen.contains(pid) { seen.append(pid) }
            Glibc.kill(pid, SIGKILL)
        }
        for pid in found where ProcessTable.stat(pid)?.ppid == me {
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
        }
        return found.isEmpty
    }
    // Anything that died on its own and was never waited for.
    var status: Int32 = 0
    while waitpid(-1, &status, WNOHANG) > 0 {}
    return seen
}
