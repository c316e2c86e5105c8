import Glibc
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

    /// Each pair has one end in the parent and the other in its child: the
    /// restore makes the pair once and gives each process its end.
    func testPairsBetweenParentAndChild() throws {
        let fixture = try startFixture("socketpairs", ["--fork"])
        let childLine = try XCTUnwrap(fixture.log.lines().first { $0.hasPrefix("child ") && !$0.contains("round") })
        let child = try XCTUnwrap(pid_t(childLine.dropFirst("child ".count)))
        try fixture.waitFor("child round", atLeast: 10)
        try fixture.waitFor("round", atLeast: 10)

        let image = try checkpoint(fixture)
        _ = try? waitForExit(child, timeout: 5)
        try waitUntilFree(child)
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        XCTAssertTrue(ProcessTable.isAlive(child), "the child is back")

        try fixture.waitForMore("round", 20, after: mark)
        try fixture.waitForMore("child round", 20, after: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertSequence(fixture, "child round", startingAt: 0)
        assertNoFailures(fixture)
    }
}
