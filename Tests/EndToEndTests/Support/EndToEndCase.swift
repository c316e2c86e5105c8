import Glibc
import XCTest

/// The base of every end-to-end test: a scratch directory, and the promise
/// that every process the test started, and every process crtool restored
/// for it, is killed and reaped afterwards, and every network lock its
/// dumps left is removed, whether the test passed, failed or threw halfway.
class EndToEndCase: XCTestCase {
    private(set) var scratch: ScratchDirectory!
    private var childrenBefore: Set<pid_t> = []
    private var startedAt = Date()

    override func setUpWithError() throws {
        try super.setUpWithError()
        try becomeChildSubreaper()
        childrenBefore = Set(ProcessTable.children(of: getpid()))
        startedAt = Date()
        let label = String(name.filter { $0.isLetter || $0.isNumber }.suffix(40))
        scratch = try ScratchDirectory(label: label)
    }

    override func tearDownWithError() throws {
        killDescendants(keeping: childrenBefore)
        removeNetworkLocks(madeSince: startedAt)
        scratch?.remove()
        scratch = nil
        try super.tearDownWithError()
    }

    /// Processes this test started (directly or through crtool) that still
    /// run: after a failed restore there must be none but the test's own.
    func liveProcessesStartedHere() -> [pid_t] {
        let kept = childrenBefore.union(childrenBefore.flatMap { ProcessTable.descendants(of: $0) })
        return ProcessTable.descendants(of: getpid()).filter { !kept.contains($0) && ProcessTable.isAlive($0) }
    }

    /// Kills a process and waits until its PID is free, whoever its parent.
    func killAndReap(_ pid: pid_t) throws {
        Glibc.kill(pid, SIGKILL)
        if ProcessTable.stat(pid)?.ppid == getpid() {
            guard try waitForExit(pid, timeout: 10) != nil else {
                throw HarnessError("pid \(pid) survived SIGKILL for 10 s")
            }
        }
        try waitUntilFree(pid)
    }

    /// crtool can only take a PID again once nothing holds it, not even a
    /// zombie waiting for its parent.
    func waitUntilFree(_ pid: pid_t, timeout: Double = 10) throws {
        guard poll(timeout: timeout, { ProcessTable.isFree(pid) }) else {
            let state = ProcessTable.stat(pid).map { "state \($0.state), parent \($0.ppid)" } ?? "unknown"
            throw HarnessError("pid \(pid) still taken after \(timeout) s (\(state))")
        }
    }
}
