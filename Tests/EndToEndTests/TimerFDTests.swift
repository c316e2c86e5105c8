import Glibc
import XCTest

/// timerfds across a checkpoint with half a second between dump and
/// restore: the periodic timer goes on firing every 100 ms, the one-shot
/// timer keeps the time it had left (the time spent checkpointed does not
/// count), and an expiration nobody had read is still there to read.
final class TimerFDTests: EndToEndCase {
    func testTimersFireOnScheduleAfterRestore() throws {
        let timers = try startFixture("timerfd")
        // By tick 4 the 200 ms one-shot timer has expired, unread.
        try timers.waitFor("tick", atLeast: 4)
        let image = try checkpoint(timers)
        let mark = timers.lineCount
        sleepSeconds(0.5)
        try restore(image, as: timers)
        let restored = monotonicSeconds()

        let last = try XCTUnwrap(timers.numbers("tick", before: mark).last)
        try timers.waitFor("tick", atLeast: last + 10, from: mark)
        let tenPeriods = monotonicSeconds() - restored
        XCTAssertGreaterThan(tenPeriods, 0.8, "ten 100 ms periods came too fast")
        XCTAssertLessThan(tenPeriods, 2.0, "ten 100 ms periods came too slowly")

        // The long timer's time left goes on from where it was: at most a
        // period or two less than the last value shown before the dump.
        let leftBefore = try XCTUnwrap(timeLeft(timers.log.lines()[..<mark].last { $0.hasPrefix("tick ") }))
        let leftAfter = try XCTUnwrap(timeLeft(timers.log.lines()[mark...].first { $0.hasPrefix("tick ") }))
        XCTAssertLessThanOrEqual(leftAfter, leftBefore)
        XCTAssertGreaterThanOrEqual(leftAfter, leftBefore - 250, "the time spent checkpointed was counted")

        try timers.signal(SIGUSR1)
        try timers.waitFor(line: "expired ticks 1", from: mark)
        try timers.waitFor(line: "long fired", from: mark, timeout: 5)
        // A late wake-up may read two expirations at once, so ticks only grow.
        let ticks = timers.numbers("tick")
        XCTAssertEqual(ticks, ticks.sorted(), timers.log.tail())
        XCTAssertEqual(Set(ticks).count, ticks.count, timers.log.tail())
        assertNoFailures(timers)
    }

    /// "tick <n> left <ms>" → ms
    private func timeLeft(_ line: String?) -> Int? {
        guard let parts = line?.split(separator: " "), parts.count == 4, parts[2] == "left" else { return nil }
        return Int(parts[3])
    }
}
