import XCTest

/// Socketpairs of every type, holding messages queued in both directions
/// at dump time, carry on after the restore with every message delivered
/// once, in order and whole; a shut-down writer and a closed peer stay so.
final class SocketPairTests: EndToEndCase {
    func testQueuedMessagesArriveExactlyOnceAfterRestore() throws {
        let fixture = try startFixture("socketpairs")
        try fixture.waitFor("round", atLeast: 10)

        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 30, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)
    }

    func testTwoRoundTrips() throws {
        let fixture = try startFixture("socketpairs")
        try fixture.waitFor("round", atLeast: 5)
        try roundTrip(fixture)
        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 20, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)
    }
}
