import Glibc

/// A running fixture-counter with its heap filled. The same value still
/// describes it after a restore: the PID and the stdout file are kept.
struct CounterFixture {
    let pid: pid_t
    let log: LineLog
    let heapMiB: Int

    /// Starts the fixture and waits for `ready`, which it prints once every
    /// page of its heap has been written.
    static func start(heapMiB: Int, workload: Workload, in directory: ScratchDirectory) throws -> CounterFixture {
        let log = LineLog(path: directory.path + "/fixture.out")
        let pid = try Spawner.spawn(BuildProducts.counterFixture,
                                    ["--heap-mib", String(heapMiB)] + workload.fixtureArguments,
                                    stdout: log.path, stderr: directory.path + "/fixture.err")
        let fixture = CounterFixture(pid: pid, log: log, heapMiB: heapMiB)
        do {
            // Filling runs at first-touch speed: allow for a slow first 2 GiB.
            try log.waitFor("ready", pid: pid, timeout: 60 + Double(heapMiB) / 16) { $0 == "ready" }
        } catch {
            try? ChildReaper.killAndReap(pid)
            throw error
        }
        return fixture
    }

    /// Waits for a `tick` line after line `mark`: proof the process runs.
    func waitForTick(after mark: Int, timeout: Double = 10) throws {
        try log.waitFor("a tick after line \(mark)", from: mark, pid: pid, timeout: timeout) { $0.hasPrefix("tick ") }
    }

    /// Asks for a full check of the heap (SIGUSR1) and waits for its
    /// `verify … ok`, so a restore that lost or mangled a page is caught.
    func verifyHeap(after mark: Int, timeout: Double = 60) throws {
        guard kill(pid, SIGUSR1) == 0 else { throw BenchError.system("kill(\(pid), SIGUSR1)") }
        try log.waitFor("a heap verification after line \(mark)", from: mark, pid: pid, timeout: timeout) {
            $0.hasPrefix("verify ") && $0.hasSuffix(" ok")
        }
    }
}
