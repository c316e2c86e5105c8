import Glibc
import XCTest

/// A process caught inside nanosleep resumes the sleep, never waking early.
final class SleeperTests: EndToEndCase {
    func testInterruptedSleepResumes() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let (_, mark) = try roundTrip(sleeper)
        let last = try XCTUnwrap(sleeper.numbers("woke", before: mark).last)
        try sleeper.waitFor(line: "woke \(last + 1)", from: mark)
        try sleeper.waitFor(line: "woke \(last + 3)", from: mark)
        assertSequence(sleeper, "woke", startingAt: 1)
        assertNoFailures(sleeper)
    }

    /// A process stopped by job control (kill -STOP, ^Z) at the dump is
    /// stopped again after the restore, before it runs, and goes on when
    /// continued; a dump with --leave-running leaves it stopped too.
    func testStoppedProcessComesBackStopped() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        XCTAssertEqual(kill(sleeper.pid, SIGSTOP), 0)
        XCTAssertTrue(poll(timeout: 5) { ProcessTable.statusField(sleeper.pid, "State")?.hasPrefix("T") == true })

        _ = try checkpoint(sleeper, options: ["--leave-running"])
        XCTAssertEqual(ProcessTable.statusField(sleeper.pid, "State")?.first, "T", "stopped after a dump that left it running")
        let (_, mark) = try roundTrip(sleeper)
        XCTAssertEqual(ProcessTable.statusField(sleeper.pid, "State")?.first, "T", "stopped after the restore")
        usleep(900_000) // three of its sleeps
        XCTAssertEqual(sleeper.lineCount, mark, "a stopped process wrote: \(sleeper.log.tail())")
        XCTAssertEqual(ProcessTable.statusField(sleeper.pid, "State")?.first, "T")

        XCTAssertEqual(kill(sleeper.pid, SIGCONT), 0)
        let last = try XCTUnwrap(sleeper.numbers("woke", before: mark).last)
        try sleeper.waitFor(line: "woke \(last + 2)", from: mark)
        assertSequence(sleeper, "woke", startingAt: 1)
        assertNoFailures(sleeper)
    }
}
