import Glibc
import XCTest

/// The harness itself, without crtool: these must pass before any
/// end-to-end result means anything.
final class HarnessTests: EndToEndCase {
    func testFixtureStartsAndIsReapedSoItsPidIsFree() throws {
        let counter = try startFixture("counter", ["--heap-mib", "4"])
        try counter.waitFor("tick", atLeast: 3)
        try killAndReap(counter.pid)
        XCTAssertTrue(ProcessTable.isFree(counter.pid))
        assertSequence(counter, "tick", startingAt: 1)
    }

    /// Every fixture must tell a pause from a failure: a checkpoint stops
    /// them for far longer than their own periods.
    func testEveryFixtureCarriesOnAfterStopAndContinue() throws {
        let pty = try PseudoTerminal()
        addTeardownBlock { pty.close() }
        let dataDir = try scratch.newDirectory("files")
        var fixtures = [
            try startFixture("counter", ["--heap-mib", "8", "--zero-half"]),
            try startFixture("threads"),
            try startFixture("sleeper"),
            try startFixture("reader", stdin: .descriptor(pty.slave)),
            try startFixture("avx"),
            try startFixture("signals"),
            try startFixture("files", [dataDir]),
        ]
        pty.closeSlave()
        if BuildProducts.python3 != nil { fixtures.append(try startPythonFixture()) }

        for f in fixtures { try f.signal(SIGSTOP) }
        sleepSeconds(1.5)
        let marks = fixtures.map { $0.lineCount }
        for f in fixtures { try f.signal(SIGCONT) }

        // The two that print only when spoken to.
        try pty.send("still here\n")
        try fixtures[5].signal(SIGUSR1)
        for (f, mark) in zip(fixtures, marks) {
            try f.waitFor("progress after SIGCONT", from: mark, timeout: 10) { _ in true }
        }
        sleepSeconds(0.5)
        for f in fixtures {
            assertNoFailures(f)
            XCTAssertTrue(ProcessTable.isAlive(f.pid), "\(f.name) died\n\(f.log.tail())")
        }
        try fixtures[3].waitFor(line: "got still here")
        try fixtures[5].waitFor(line: "usr1 1")
    }

    func testWaitingForAMissingLineReportsTheLogTail() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        XCTAssertThrowsError(try sleeper.waitFor(line: "never printed", timeout: 0.5)) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("woke 1"), message)
            XCTAssertTrue(message.contains("timed out"), message)
        }
    }

    func testWaitingStopsEarlyWhenTheProcessDies() throws {
        let sleeper = try startFixture("sleeper")
        Glibc.kill(sleeper.pid, SIGKILL)
        let start = monotonicSeconds()
        XCTAssertThrowsError(try sleeper.waitFor(line: "never printed", timeout: 20))
        XCTAssertLessThan(monotonicSeconds() - start, 5)
    }

    func testCommandOutputAndStatusAreCaptured() throws {
        let result = try runCommand(
            "/bin/sh", ["-c", "echo out; echo err >&2; exit 3"],
            outputPrefix: scratch.newPath("sh"), timeout: 10)
        XCTAssertEqual(result.status, .exited(3))
        XCTAssertEqual(result.stdout, "out\n")
        XCTAssertEqual(result.stderr, "err\n")
    }

    func testCommandOverItsTimeLimitIsKilledAndReaped() throws {
        let start = monotonicSeconds()
        XCTAssertThrowsError(
            try runCommand("/bin/sleep", ["30"], outputPrefix: scratch.newPath("sleep"), timeout: 0.3))
        XCTAssertLessThan(monotonicSeconds() - start, 5)
        XCTAssertEqual(liveProcessesStartedHere(), [])
    }

    /// What the restore tests rely on: an orphan lands with the test process,
    /// which can then reap it and see its PID free.
    func testOrphansAreReparentedToTheTest() throws {
        let out = scratch.newPath("orphan")
        let result = try runCommand(
            "/bin/sh", ["-c", "sleep 30 >/dev/null 2>&1 & echo $!"], outputPrefix: out, timeout: 10)
        let orphan = try XCTUnwrap(pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue(poll(timeout: 2) { ProcessTable.stat(orphan)?.ppid == getpid() })
        try killAndReap(orphan)
        XCTAssertTrue(ProcessTable.isFree(orphan))
    }

    func testTheSameFileIsFoundWhicheverWayTheImageNamesIt() throws {
        let dir = try scratch.newDirectory("image")
        for name in ["manifest.json", "process-42.json", "pages-42.img"] {
            try writeWholeFile(dir + "/" + name, Array("{\"formatVersion\": 1, \"x\": 12345}".utf8))
        }
        let files = ImageFiles(directory: dir, pid: 42)
        XCTAssertEqual(try files.processFile(), dir + "/process-42.json")
        XCTAssertEqual(try files.pageFile(), dir + "/pages-42.img")
        try ImageFiles.setFormatVersion(in: files.manifest, to: 99)
        XCTAssertEqual(readTextFile(files.manifest), "{\"formatVersion\": 99, \"x\": 12345}")
    }
}
