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

    /// An ignored SIGTRAP is reset to SIG_DFL by the kernel at every single
    /// step, blocked or not: it must be in the image as ignored, still
    /// ignored after a dump that leaves the process running, and after a
    /// restore, where a SIGTRAP must not kill it.
    func testIgnoredSigtrapStaysIgnoredAcrossDumpAndRestore() throws {
        let ignorer = try startPython("trap-ignorer", """
            import signal, time
            signal.signal(signal.SIGTRAP, signal.SIG_IGN)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, flush=True)
                time.sleep(0.05)
            """)
        let ignoredBefore = ProcessTable.statusField(ignorer.pid, "SigIgn")
        let trapBit = UInt64(1) << UInt64(SIGTRAP - 1)
        guard (ignoredBefore.flatMap { UInt64($0, radix: 16) } ?? 0) & trapBit != 0 else {
            throw HarnessError("python does not ignore SIGTRAP: SigIgn \(ignoredBefore ?? "missing")")
        }
        _ = try checkpoint(ignorer, options: ["--leave-running"])
        XCTAssertEqual(ProcessTable.statusField(ignorer.pid, "SigIgn"), ignoredBefore, "ignored signals after a dump that left it running")
        try ignorer.signal(SIGTRAP)
        try ignorer.waitForMore("tick", 3, after: ignorer.lineCount)

        // The restore takes SIGTRAP's action from the image: ignored only
        // if the dump saw it ignored, before its first step reset it.
        let (_, mark) = try roundTrip(ignorer)
        XCTAssertEqual(ProcessTable.statusField(ignorer.pid, "SigIgn"), ignoredBefore, "ignored signals after the restore")
        try ignorer.signal(SIGTRAP)
        try ignorer.waitForMore("tick", 3, after: mark)
        XCTAssertTrue(ProcessTable.isAlive(ignorer.pid), "a SIGTRAP must not end the restored process")
        assertNoFailures(ignorer)
    }
}
