import Glibc
import XCTest

/// pidfds come back naming the same processes: the fixture signals its
/// restored child through its restored pidfd, and at the end reaps it
/// through that pidfd. A pidfd on a process outside the image is opened
/// again on that process; once it has exited, the restore refuses.
final class PidFDTests: EndToEndCase {
    func testPidfdsNameTheRestoredProcesses() throws {
        let fixture = try startFixture("pidfds")
        try fixture.waitFor("child usr1", atLeast: 1)
        let (image, _) = try checkpointTree(fixture)
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("tick", 12, after: mark)
        try fixture.waitForMore("child usr1", 2, after: mark)
        try fixture.signal(SIGUSR2)
        try fixture.waitFor(line: "child reaped by pidfd status \(SIGTERM)", from: mark)
        assertSequence(fixture, "tick", startingAt: 1)
        assertSequence(fixture, "child usr1", startingAt: 1)
        assertNoFailures(fixture)
    }

    func testPidfdOnAProcessOutsideTheImage() throws {
        let outside = try startFixture("sleeper")
        let holder = try startHolder(naming: outside.pid)
        try holder.waitFor("tick", atLeast: 2)

        let (_, mark) = try roundTrip(holder)
        try holder.waitForMore("tick", 5, after: mark)
        XCTAssertFalse(holder.log.lines().contains { $0.hasSuffix(" ended") }, "the pidfd saw its process end while it ran")
        try killAndReap(outside.pid)
        let ended = try holder.waitFor("the pidfd seeing its process end", from: mark) { $0.hasSuffix(" ended") }
        XCTAssertNotNil(ended)

        // Dumped again while it names a process that has gone: a pidfd
        // cannot be opened on a reaped process.
        let dir = try scratch.newDirectory("image")
        let refused = try crtool(["dump", "-t", "\(holder.pid)", "-D", dir])
        XCTAssertFalse(refused.succeeded, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("is a pidfd on a process that has exited and been reaped"), "\(refused)")
        assertRunningFree(holder)
        assertNoFailures(holder)
    }

    /// The process a pidfd named is gone by the time of the restore.
    func testRestoreRefusesWhenTheOutsideProcessIsGone() throws {
        let outside = try startFixture("sleeper")
        let holder = try startHolder(naming: outside.pid)
        let image = try checkpoint(holder)
        try killAndReap(outside.pid)
        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("is a pidfd on pid \(outside.pid), outside the image, which has exited since the dump"), "\(result)")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
    }

    /// python3 holding a pidfd on `pid`, saying every 50 ms whether the
    /// pidfd reports its process ended.
    private func startHolder(naming pid: pid_t) throws -> Fixture {
        try startPython("holder", """
            import os, select, sys, time
            fd = os.pidfd_open(int(sys.argv[1]))
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                ended = select.select([fd], [], [], 0)[0]
                print("tick", n, "ended" if ended else "running", flush=True)
                time.sleep(0.05)
            """, ["\(pid)"])
    }
}
