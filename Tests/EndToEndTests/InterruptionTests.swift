import Glibc
import XCTest

/// Ctrl-C (SIGINT), SIGTERM or a hang-up while crtool holds a tree: the
/// dump or restore gives up at its next safe point and undoes what it
/// did, rather than dying with a thread in the middle of an injected call
/// (which crashed the program) or a restored process half made.
final class InterruptionTests: EndToEndCase {
    func testADumpInterruptedMidwayLetsTheTreeGoAsItWas() throws {
        for signal in [SIGINT, SIGTERM] {
            let counter = try startFixture("counter", ["--heap-mib", "1024"])
            addTeardownBlock { [unowned self] in try? self.killAndReap(counter.pid) }
            let checksum = try heapChecksum(counter)
            try counter.waitFor("tick", atLeast: 1)
            let dir = try scratch.newDirectory("image")
            // Sent as soon as crtool traces the tree: it is then freezing
            // it, asking its threads, or reading its gigabyte of pages.
            let result = try interrupt(["dump", "-t", "\(counter.pid)", "-D", dir, "-R"], with: signal) {
                ProcessTable.tracer(of: counter.pid).map { $0 != 0 } ?? false
            }
            XCTAssertEqual(result.status, .exited(128 + signal), "\(result)")
            XCTAssertTrue(result.stderr.contains("interrupted by \(signalName(signal)): the dump was given up: the tree goes on as it was, and no image was kept"),
                          "\(result)")
            XCTAssertFalse(fileExists(dir + "/manifest.json"), "an interrupted dump left an image")
            XCTAssertEqual(ProcessTable.tracer(of: counter.pid), 0, "the counter is let go")
            let mark = counter.lineCount
            try counter.waitForMore("tick", 2, after: mark)
            try checkHeap(counter, is: checksum, from: mark)
            XCTAssertFalse(counter.stderrTail().contains("crashed"), counter.stderrTail())
            assertNoFailures(counter)
            try killAndReap(counter.pid)
        }
    }

    /// SIGKILL cannot be caught: a crtool killed while it reads the pages
    /// must have given the threads their own registers and signal masks
    /// back already (asked nothing more of them), or they go on from the
    /// injection site with crtool's, and crash.
    func testACrtoolKilledWhileReadingPagesLeavesTheProgramRunning() throws {
        let counter = try startFixture("counter", ["--heap-mib", "1024"])
        addTeardownBlock { [unowned self] in try? self.killAndReap(counter.pid) }
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 1)
        let ownMask = try XCTUnwrap(ProcessTable.statusField(counter.pid, "SigBlk"))
        let mapsBefore = Set(mapsLines(counter.pid))
        let dir = try scratch.newDirectory("image")
        // The scratch mapping crtool lends the process appears when it
        // starts asking the threads; the thread's own signal mask back
        // with it still there means the questions are over.
        let result = try interrupt(["dump", "-t", "\(counter.pid)", "-D", dir, "-R"], with: SIGKILL) {
            let lent = mapsLines(counter.pid).contains { !mapsBefore.contains($0) && $0.contains(" rwxp ") }
            return lent && ProcessTable.tracer(of: counter.pid).map { $0 != 0 } == true
                && ProcessTable.statusField(counter.pid, "SigBlk") == ownMask
        }
        XCTAssertEqual(result.status, .signaled(SIGKILL), "\(result)")
        XCTAssertTrue(poll(timeout: 5) { ProcessTable.tracer(of: counter.pid) == 0 }, "the kernel lets the counter go")
        let mark = counter.lineCount
        try counter.waitForMore("tick", 2, after: mark)
        try checkHeap(counter, is: checksum, from: mark)
        XCTAssertEqual(ProcessTable.statusField(counter.pid, "SigBlk"), ownMask)
        assertNoFailures(counter)
    }

    func testARestoreInterruptedMidwayLeavesNothingAndTheImageRestoresAfter() throws {
        let counter = try startFixture("counter", ["--heap-mib", "1024"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 1)
        let image = try checkpoint(counter)
        // Sent as soon as the root exists: crtool is then making its
        // memory, placing its gigabyte of pages, or restoring its state.
        let result = try interrupt(["restore", "-D", image, "-d"], with: SIGTERM) { ProcessTable.isAlive(counter.pid) }
        XCTAssertEqual(result.status, .exited(128 + SIGTERM), "\(result)")
        XCTAssertTrue(result.stderr.contains("interrupted by SIGTERM: the restore was given up: every process it had made was killed"), "\(result)")
        try waitUntilFree(counter.pid)
        XCTAssertEqual(liveProcessesStartedHere(), [], "nothing of the restore is left")

        let mark = counter.lineCount
        try restore(image, as: counter)
        try counter.waitForMore("tick", 2, after: mark)
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
        try killAndReap(counter.pid)
    }

    // MARK: -

    /// Runs crtool with `arguments`, sends it `signal` once `ready` holds
    /// (polled every millisecond), and returns how it ended.
    private func interrupt(_ arguments: [String], with signal: Int32, once ready: () -> Bool) throws -> CommandResult {
        let prefix = scratch.newPath("crtool-\(arguments[0])")
        let pid = try spawnProcess(BuildProducts.crtool, arguments, stdout: prefix + ".stdout", stderr: prefix + ".stderr")
        let seen = poll(timeout: 30, every: 0.001, ready)
        Glibc.kill(pid, signal)
        guard let status = try waitForExit(pid, timeout: 60) else { throw HarnessError("crtool \(arguments) did not end after \(signal)") }
        let result = CommandResult(commandLine: (["crtool"] + arguments).joined(separator: " "), status: status,
                                   stdout: readTextFile(prefix + ".stdout") ?? "", stderr: readTextFile(prefix + ".stderr") ?? "")
        guard seen else { throw HarnessError("crtool never got as far as the moment to interrupt it: \(result)") }
        return result
    }

    private func mapsLines(_ pid: pid_t) -> [String] {
        (readTextFile("/proc/\(pid)/maps") ?? "").split(separator: "\n").map(String.init)
    }

    private func signalName(_ signal: Int32) -> String {
        signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"
    }
}
