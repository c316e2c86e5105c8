import Glibc
import XCTest

/// A job keeps how it was scheduled: each thread its policy, nice value
/// (also the one kept beneath a real-time policy), SCHED_RESET_ON_FORK,
/// CPUs and I/O priority, and the process its oom_score_adj. The fixture's
/// threads check themselves every round; a restore that left them with
/// crtool's scheduling ends the fixture with a FAIL line.
final class SchedulingTests: EndToEndCase {
    func testThreadsKeepPolicyNiceCPUsAndIOPriority() throws {
        let fixture = try startFixture("scheduled")
        try fixture.waitFor("tick", atLeast: 3)
        XCTAssertEqual(oomScoreAdjust(fixture.pid), "321")

        for round in 1...2 {
            let (image, mark) = try roundTrip(fixture)
            if round == 1 {
                let show = try crtool(["show", image])
                for text in ["SCHED_BATCH nice 5, CPUs", "SCHED_IDLE nice 12, CPUs", "SCHED_FIFO 7 nice -3, CPUs"] {
                    XCTAssertTrue(show.stdout.contains(text), "show should say \"\(text)\": \(show)")
                }
            }
            try fixture.waitForMore("tick", 10, after: mark)
            XCTAssertEqual(oomScoreAdjust(fixture.pid), "321")
        }
        assertSequence(fixture, "tick", startingAt: 1)
        assertNoFailures(fixture)
    }

    /// A session leader's autogroup nice (what weighs its whole session
    /// against the others) is set on the new autogroup its restored
    /// setsid makes.
    func testSessionKeepsItsAutogroupNice() throws {
        let leader = try startPython("session", """
            import os, time
            try:
                os.setsid()
            except PermissionError:
                pass  # already leading its own session
            with open("/proc/self/autogroup", "w") as f:
                f.write("6")
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        XCTAssertTrue(readTextFile("/proc/\(leader.pid)/autogroup")?.hasSuffix(" nice 6\n") ?? false)
        try roundTrip(leader)
        let after = readTextFile("/proc/\(leader.pid)/autogroup") ?? ""
        XCTAssertTrue(after.hasSuffix(" nice 6\n"), after)
        assertNoFailures(leader)
    }

    private func oomScoreAdjust(_ pid: pid_t) -> String? {
        readTextFile("/proc/\(pid)/oom_score_adj")?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
