import Glibc
import XCTest

/// signalfd descriptors keep their masks and flags, a signal pending at
/// the dump is read from its signalfd after the restore exactly once, and
/// a signal sent after the restore is read as well.
final class SignalFDTests: EndToEndCase {
    func testPendingAndNewSignalsAreReadAfterRestore() throws {
        let fixture = try startFixture("signalfd")
        try fixture.signal(SIGUSR1)
        try fixture.waitFor(line: "usr1 1 from \(getpid())")
        try fixture.signal(SIGUSR2)
        try fixture.waitFor(line: "usr2 pending")

        let (_, mark) = try roundTrip(fixture)
        // Several 20 ms rounds check that SIGUSR2 is still pending and unread.
        sleepSeconds(0.3)
        assertNoFailures(fixture)

        try fixture.signal(SIGUSR1)
        try fixture.waitFor(line: "usr1 2 from \(getpid())", from: mark)
        try fixture.waitFor(line: "usr2 read from \(getpid())", from: mark)
        try fixture.signal(SIGUSR1)
        try fixture.waitFor(line: "usr1 3 from \(getpid())", from: mark)
        sleepSeconds(0.2)

        XCTAssertEqual(fixture.log.lines().filter { $0.hasPrefix("usr2 read") }.count, 1)
        XCTAssertTrue(ProcessTable.isAlive(fixture.pid))
        assertNoFailures(fixture)
    }
}
