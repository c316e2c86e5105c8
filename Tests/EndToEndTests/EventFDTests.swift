import XCTest

/// Two eventfds (a counter and a semaphore above 2^32) keep their values
/// and flags across a restore; the fixture checks both through fdinfo
/// every 20 ms and on every read.
final class EventFDTests: EndToEndCase {
    func testCountersContinueAfterRestore() throws {
        let events = try startFixture("eventfd")
        try events.waitFor("round", atLeast: 15)
        let (_, mark) = try roundTrip(events)
        let last = try XCTUnwrap(events.numbers("round", before: mark).last)
        let next = try events.waitFor("a round after restore", from: mark) { $0.hasPrefix("round ") }
        XCTAssertEqual(LogLines.number(in: next.line, after: "round"), last + 5)
        try events.waitFor("round", atLeast: last + 30, from: mark)
        XCTAssertEqual(LogLines.breakInSequence(events.numbers("round").map { $0 / 5 }, startingAt: 1), nil,
                       events.log.tail())
        assertNoFailures(events)
    }
}
