import XCTest

/// A real interpreter with a large heap of small objects comes back with
/// its dict intact and its loop counting on.
final class PythonTests: EndToEndCase {
    func testDictHolderCarriesOn() throws {
        let python = try startPythonFixture()
        try python.waitFor(line: "verify ok")

        let (_, mark) = try roundTrip(python)
        let last = try XCTUnwrap(python.numbers("tick", before: mark).last)
        let next = try python.waitFor("a tick after restore", from: mark) { $0.hasPrefix("tick ") }
        XCTAssertEqual(LogLines.number(in: next.line, after: "tick"), last + 1)
        try python.waitFor(line: "verify ok", from: mark, timeout: 30)
        try python.waitFor("tick", atLeast: last + 12, from: mark)
        assertSequence(python, "tick", startingAt: 1)
        assertNoFailures(python)
    }
}
