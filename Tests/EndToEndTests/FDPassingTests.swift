import Glibc
import XCTest

/// Files in flight (SCM_RIGHTS messages not yet received) come back in
/// the socket queues: the receiver gets them after the restore, a pipe
/// with its bytes, a file at its offset, and a file it also holds as the
/// very same open file description.
final class FDPassingTests: EndToEndCase {
    func testFilesInFlightArriveAfterRestore() throws {
        let dir = try scratch.newDirectory("files")
        let fixture = try startFixture("fdpassing", [dir])
        let child = try childPid(fixture)
        try fixture.waitFor("tick", atLeast: 3)

        let image = try checkpoint(fixture)
        _ = try? waitForExit(child, timeout: 5)
        try waitUntilFree(child)
        let processFiles = try FileManager.default.contentsOfDirectory(atPath: image).filter { $0.hasPrefix("process-") }
        let json = try processFiles.map { try String(contentsOfFile: image + "/" + $0, encoding: .utf8) }.joined()
        XCTAssertTrue(json.contains("\"heldBy\""), "the shared file in flight is saved as the child's own description")
        XCTAssertTrue(json.contains("\"inFlight\""), "the files in flight are in the image")

        let mark = fixture.lineCount
        try restore(image, as: fixture)
        XCTAssertTrue(ProcessTable.isAlive(child), "the child is back")
        XCTAssertFalse(fixture.log.lines()[mark...].contains { $0.hasPrefix("received") }, "nothing was received before SIGUSR1")
        XCTAssertEqual(kill(child, SIGUSR1), 0)
        try fixture.waitFor(line: "received all", from: mark)
        try fixture.waitFor("child tick", atLeast: 5, from: mark)
        let last = try XCTUnwrap(fixture.numbers("tick", before: mark).last)
        try fixture.waitFor("tick", atLeast: last + 10, from: mark)
        assertNoFailures(fixture)
    }

    /// The dump only peeks at the queues: with --leave-running the
    /// receiver still gets every file, once.
    func testDumpLeavesFilesInFlightQueued() throws {
        let dir = try scratch.newDirectory("files")
        let fixture = try startFixture("fdpassing", [dir])
        let child = try childPid(fixture)
        try fixture.waitFor("tick", atLeast: 3)

        _ = try checkpoint(fixture, options: ["--leave-running"])
        let mark = fixture.lineCount
        XCTAssertEqual(kill(child, SIGUSR1), 0)
        try fixture.waitFor(line: "received all", from: mark)
        try fixture.waitFor("child tick", atLeast: 5, from: mark)
        assertNoFailures(fixture)
    }

    /// A descriptor the process also holds (its stdin), in flight to itself.
    func testDescriptorInFlightToItself() throws {
        let fixture = try startFixture("socketpairs", ["--fd-in-flight"])
        try fixture.waitFor("round", atLeast: 3)
        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 10, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)
    }

    private func childPid(_ fixture: Fixture) throws -> pid_t {
        let line = try XCTUnwrap(fixture.log.lines().first { $0.hasPrefix("child ") && !$0.contains("tick") })
        return try XCTUnwrap(pid_t(line.dropFirst("child ".count)))
    }
}
