import Glibc
import XCTest

/// A restore whose PID is taken must fail before it creates anything,
/// and leave the process holding the PID alone.
final class RestoreConflictTests: EndToEndCase {
    func testRestoreWhileThePidIsTaken() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let image = try checkpoint(counter, options: ["--leave-running"])

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("\(counter.pid)"), "the message should name the PID: \(result)")

        XCTAssertEqual(liveProcessesStartedHere(), [counter.pid], "the failed restore left processes behind")
        assertRunningFree(counter)
        let last = try XCTUnwrap(counter.numbers("tick").last)
        try counter.waitFor("tick", atLeast: last + 5)
        let mark = counter.lineCount
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        // A second writer to the same log would show up as repeated ticks.
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }
}
