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
}
