import Glibc
import XCTest

/// A signal ignored by whoever runs crtool (nohup, a shell trap) must not
/// leak into the restored process: its dispositions are the image's, every
/// other signal's is the default.
final class SignalDispositionTests: EndToEndCase {
    func testSignalIgnoredByTheRestoringShellIsNotIgnoredAfterRestore() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 3)
        let ignoredBefore = ProcessTable.statusField(counter.pid, "SigIgn")
        let image = try checkpoint(counter)
        let shell = "trap '' HUP; exec \"$0\" restore -D \"$1\" -d"
        let result = try runCommand("/bin/bash", ["-c", shell, BuildProducts.crtool, image],
                                    outputPrefix: scratch.newPath("restore"), timeout: 60)
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertTrue(ProcessTable.isAlive(counter.pid))
        XCTAssertEqual(ProcessTable.statusField(counter.pid, "SigIgn"), ignoredBefore, "ignored signals after restore")
        try counter.signal(SIGHUP)
        XCTAssertTrue(poll(timeout: 5) { !ProcessTable.isAlive(counter.pid) }, "SIGHUP must end the restored counter")
        try? killAndReap(counter.pid)
    }

    /// Injection single-steps the process, and each step raises a SIGTRAP
    /// the kernel would take as a reason to reset a blocked SIGTRAP's
    /// handler: a program's own handler must survive a dump that leaves
    /// it running, and a restore.
    func testSigtrapHandlerSurvivesDumpAndRestore() throws {
        let trapper = try startPython("trapper", """
            import signal, sys, time
            caught = 0
            def on_trap(sig, frame):
                global caught
                caught += 1
                print("trap", caught, flush=True)
            signal.signal(signal.SIGTRAP, on_trap)
            print("ready", flush=True)
            while True:
                time.sleep(0.05)
            """)
        let caughtBefore = ProcessTable.statusField(trapper.pid, "SigCgt")
        _ = try checkpoint(trapper, options: ["--leave-running"])
        XCTAssertEqual(ProcessTable.statusField(trapper.pid, "SigCgt"), caughtBefore, "caught signals after a dump that left it running")
        try trapper.signal(SIGTRAP)
        try trapper.waitFor(line: "trap 1")

        let (_, mark) = try roundTrip(trapper)
        XCTAssertEqual(ProcessTable.statusField(trapper.pid, "SigCgt"), caughtBefore, "caught signals after the restore")
        try trapper.signal(SIGTRAP)
        try trapper.waitFor(line: "trap 2", from: mark)
        assertNoFailures(trapper)
    }
}
