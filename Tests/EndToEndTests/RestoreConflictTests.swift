import Glibc
import XCTest

/// A restore whose PID is taken must fail before it creates anything,
/// and leave the process holding the PID alone.
final class RestoreConflictTests: EndToEndCase {
    func testRestoreWhileThePidIsTaken() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let image = try checkpoint(counter, options: ["--leave-running"])

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("\(counter.pid)"), "the message should name the PID: \(result)")

        XCTAssertEqual(liveProcessesStartedHere(), [counter.pid], "the failed restore left processes behind")
        assertRunningFree(counter)
        let last = try XCTUnwrap(counter.numbers("tick").last)
        try counter.waitFor("tick", atLeast: last + 5)
        let mark = counter.lineCount
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        // A second writer to the same log would show up as repeated ticks.
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    /// The dumped process led a process group that another process, not
    /// in the image, is still in: its pid stays taken, and the restore
    /// says by whom.
    func testPidKeptByAGroupMemberOutsideTheImage() throws {
        // The leader forks a child that forks a grandchild and exits: the
        // grandchild is no descendant of the leader any more, but still in
        // its process group.
        let leader = try startPython("leader", """
            import os, time
            os.setpgid(0, 0)
            child = os.fork()
            if child == 0:
                if os.fork() == 0:
                    print("member", os.getpid(), flush=True)
                    time.sleep(600)
                os._exit(0)
            os.waitpid(child, 0)
            time.sleep(0.2)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        let member = pid_t(try leader.waitFor("member", atLeast: 1))
        let image = try checkpoint(leader)

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("the id is still the process group of pid \(member)"), "\(result)")
        XCTAssertEqual(liveProcessesStartedHere(), [member], "the failed restore left processes behind")

        try killAndReap(member)
        try restore(image, as: leader)
    }
}
