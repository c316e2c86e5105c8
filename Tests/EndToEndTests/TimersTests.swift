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

    /// A periodic ITIMER_REAL that has fired while SIGALRM is blocked shows
    /// nothing left until the signal is taken: after the restore it fires
    /// every period again once the program lets the signal through.
    func testIntervalTimerWaitingForItsSignalKeepsItsPeriod() throws {
        let code = """
            import os, signal, time
            alarms = 0
            def on_alarm(sig, frame):
                global alarms
                alarms += 1
            signal.signal(signal.SIGALRM, on_alarm)
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM, signal.SIGUSR1])
            signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
            time.sleep(0.2)
            left, every = signal.getitimer(signal.ITIMER_REAL)
            os.write(1, f"ready left {left} every {every}\\n".encode())
            signal.sigwait([signal.SIGUSR1])
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])
            time.sleep(0.5)
            os.write(1, f"alarms {alarms}\\n".encode())
            time.sleep(600)
            """
        let program = try startProgram("alarms", "/usr/bin/python3", ["-c", code], isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(program.pid) }
        XCTAssertEqual(program.log.lines().first, "ready left 0.0 every 0.05")
        let (_, mark) = try roundTrip(program)
        try program.signal(SIGUSR1)
        // The one pending at the dump, then one every 50 ms for 0.5 s.
        let alarms = try program.waitFor("alarms", atLeast: 0, from: mark)
        XCTAssertGreaterThanOrEqual(alarms, 6, program.log.lines().joined(separator: "\n"))
    }
}
