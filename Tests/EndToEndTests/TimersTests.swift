import Glibc
import XCTest

/// POSIX timers and the interval timer keep their ids, values and periods:
/// after the restore the fixture sees them fire at their rate again.
final class TimersTests: EndToEndCase {
    func testTimersFireOnScheduleAfterRestore() throws {
        let timers = try startFixture("timers", [])
        try timers.waitFor("timers", atLeast: 2)
        let before = try XCTUnwrap(readTextFile("/proc/\(timers.pid)/timers"))
        let (_, mark) = try roundTrip(timers)
        let last = try XCTUnwrap(timers.numbers("timers", before: mark).last)
        try timers.waitFor("timers", atLeast: last + 4, from: mark)
        let after = try XCTUnwrap(readTextFile("/proc/\(timers.pid)/timers"))
        XCTAssertEqual(Set(after.split(separator: "\n")), Set(before.split(separator: "\n")), "/proc/PID/timers")
        try killAndReap(timers.pid)
        assertNoFailures(timers)
    }
}
