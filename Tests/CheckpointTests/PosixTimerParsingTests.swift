@testable import Checkpoint
import XCTest

/// /proc/PID/timers in the forms the kernel prints: how a timer notifies
/// ("signal", "none", "thread", to a thread with "tid." or to the process
/// with "pid.") and a CPU-time clock, whose id is negative.
final class PosixTimerParsingTests: XCTestCase {
    func testNotifyKindsAndClocks() {
        let text = """
            ID: 3
            signal: 10/0000000000001235
            notify: signal/tid.12472
            ClockID: -99778
            ID: 2
            signal: 32/000055682ff9bb30
            notify: thread/tid.12471
            ClockID: 1
            ID: 1
            signal: 0/0000000000000000
            notify: none/pid.12469
            ClockID: 1
            ID: 0
            signal: 34/0000000000001234
            notify: signal/pid.12469
            ClockID: 1
            """
        let timers = PosixTimers.parse(text)
        XCTAssertEqual(timers.map(\.id), [3, 2, 1, 0])
        XCTAssertEqual(timers.map(\.notify), [4, 6, 1, 0], "SIGEV_SIGNAL 0, NONE 1, THREAD 2, with THREAD_ID 4 for a tid")
        XCTAssertEqual(timers.map(\.thread), [12472, 12471, 0, 0], "only a timer aimed at a thread names one")
        XCTAssertEqual(timers.map(\.clock), [-99778, 1, 1, 1])
        XCTAssertEqual(timers.map(\.signal), [10, 32, 0, 34])
        XCTAssertEqual(timers[0].value, 0x1235)
        XCTAssertEqual(timers[1].value, 0x55682ff9bb30)
    }
}
