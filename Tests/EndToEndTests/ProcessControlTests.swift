import Glibc
import Ptrace
import XCTest

/// The settings programs make for themselves come back: subreaper,
/// dumpable, THP disabled, per-thread timer slack, a child's parent-death
/// signal, locked memory (mlockall with MCL_FUTURE, MLOCK_ONFAULT) and
/// the coredump filter. The root's own parent-death signal cannot (its
/// parent is not in the image, and crtool would stand in for it): the
/// restore says so.
final class ProcessControlTests: EndToEndCase {
    func testPrctlSettingsAndMemoryLocksComeBack() throws {
        let fixture = try startFixture("controls")
        let childLine = try XCTUnwrap(fixture.log.lines().first { $0.hasPrefix("child ") && !$0.contains("tick") })
        let child = try XCTUnwrap(pid_t(childLine.dropFirst("child ".count)))
        try fixture.waitFor("child tick", atLeast: 3)
        try fixture.waitFor("tick", atLeast: 3)
        // Set from outside, as a service manager would.
        try LocalFile.writeControl("0x7f\n", to: "/proc/\(fixture.pid)/coredump_filter")
        XCTAssertEqual(coredumpFilter(fixture.pid), "0000007f")

        let (image, _) = try checkpointTree(fixture)
        let mark = fixture.lineCount
        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("warning: thread \(fixture.pid) of pid \(fixture.pid) asked for SIGWINCH when its parent dies"),
                      "\(result)")
        // The only warning: thread stacks' guard pages, locked too, are locked again without one.
        XCTAssertEqual(result.stderr.components(separatedBy: "warning:").count, 2, "\(result)")
        XCTAssertTrue(ProcessTable.isAlive(child), "the child is back")
        XCTAssertEqual(ProcessTable.statusField(fixture.pid, "THP_enabled"), "0")
        XCTAssertEqual(coredumpFilter(fixture.pid), "0000007f")

        try fixture.waitForMore("tick", 10, after: mark)
        try fixture.waitForMore("child tick", 10, after: mark)
        assertSequence(fixture, "tick", startingAt: 1)
        assertSequence(fixture, "child tick", startingAt: 1)
        assertNoFailures(fixture)
    }

    /// The audit login uid a process set for itself (as login does for
    /// a user's session) stays its own, not crtool's.
    func testAuditLoginUIDComesBack() throws {
        let own = readTextFile("/proc/self/loginuid")?.trimmingCharacters(in: .whitespacesAndNewlines)
        let wanted = own == "4321" ? "4322" : "4321"
        let user = try startPython("login", """
            import sys, time
            with open("/proc/self/loginuid", "w") as f:
                f.write(sys.argv[1])
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """, [wanted])
        XCTAssertEqual(readTextFile("/proc/\(user.pid)/loginuid"), wanted)
        try roundTrip(user)
        XCTAssertEqual(readTextFile("/proc/\(user.pid)/loginuid"), wanted, "crtool's is \(own ?? "?")")
        assertNoFailures(user)
    }

    private func coredumpFilter(_ pid: pid_t) -> String? {
        readTextFile("/proc/\(pid)/coredump_filter")?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// membarrier(2) registrations belong to the address space: a process
    /// registered for private expedited barriers (plain and SYNC_CORE)
    /// must still be after the restore, and one it never registered for
    /// (RSEQ) must still fail with EPERM.
    func testMembarrierRegistrationsComeBack() throws {
        let program = try startPython("membarrier", """
            import ctypes, time
            libc = ctypes.CDLL(None, use_errno=True)
            def barrier(command):
                return 0 if libc.syscall(324, command, 0, 0) == 0 else -ctypes.get_errno()
            if barrier(16) != 0 or barrier(64) != 0:
                print("FAIL: membarrier registration refused", flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, "barriers", barrier(8), barrier(32), barrier(128), flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 3, after: mark)
        for line in program.log.lines().dropFirst(mark) where line.hasPrefix("tick ") {
            XCTAssertTrue(line.hasSuffix(" barriers 0 0 -1"), "private expedited and SYNC_CORE registered, RSEQ not: \(line)")
        }
        assertNoFailures(program)
    }
}
