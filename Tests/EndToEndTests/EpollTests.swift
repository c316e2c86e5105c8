import XCTest

/// An epoll loop whose event is pending (and whose message is queued in a
/// socketpair) at dump time goes on after the restore: the interest list
/// is back with its user data, and the pending event is reported once.
final class EpollTests: EndToEndCase {
    func testInterestListAndPendingEventSurviveRestore() throws {
        let fixture = try startFixture("epoll")
        try fixture.waitFor("round", atLeast: 10)

        let (image, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 30, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)

        let json = try XCTUnwrap(readTextFile(try ImageFiles(directory: image, pid: fixture.pid).processFile()))
        XCTAssertTrue(json.contains("\"epoll\""), "the image should hold the epoll interest list")
    }

    /// A restored process is dumped and restored again: what the first
    /// restore made must itself be a faithful epoll instance.
    func testTwoRoundTrips() throws {
        let fixture = try startFixture("epoll")
        try fixture.waitFor("round", atLeast: 5)
        try roundTrip(fixture)
        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 20, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)
    }
}
