import Glibc
import XCTest

/// --leave-stopped, as in CRIU, for a migration that keeps the original
/// until its copy runs: the dump leaves the tree stopped rather than
/// killed, and the restore leaves the copy stopped until SIGCONT, when it
/// carries on from the image.
final class LeaveStoppedTests: EndToEndCase {
    func testDumpAndRestoreLeaveTheProcessStopped() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 3)
        let dir = try scratch.newDirectory("image")
        // -s, CRIU's short form.
        let dump = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir, "-s"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertTrue(dump.stdout.contains("process left stopped"), "\(dump)")
        XCTAssertTrue(poll(timeout: 5, every: 0.01) { ProcessTable.isStopped(counter.pid) }, "the original is stopped")
        let stoppedAt = counter.lineCount
        usleep(500_000)
        XCTAssertEqual(counter.lineCount, stoppedAt, "a stopped process prints nothing")
        let lastInImage = try XCTUnwrap(counter.numbers("tick").last)

        try killAndReap(counter.pid)
        let restore = try crtool(["restore", "-D", dir, "-d", "-s"])
        XCTAssertTrue(restore.succeeded, "\(restore)")
        XCTAssertTrue(restore.stdout.contains("left stopped"), "\(restore)")
        XCTAssertTrue(ProcessTable.isStopped(counter.pid), "the copy is stopped")
        usleep(300_000)
        XCTAssertEqual(counter.lineCount, stoppedAt)
        kill(counter.pid, SIGCONT)
        let next = try counter.waitFor("a tick after SIGCONT", from: stoppedAt) { $0.hasPrefix("tick ") }
        XCTAssertEqual(next.line, "tick \(lastInImage + 1)")
        assertNoFailures(counter)
    }
}
