import Glibc
import XCTest

/// A process killed from outside while a dump holds it frozen, or while
/// a restore makes it, fails the operation, and the error says so first,
/// naming the process and the signal, instead of the ESRCH or ENOENT the
/// next request met. The post-dump and post-restore action scripts run
/// where crtool holds every process, which makes the kill land there
/// every time.
final class EndedMidwayTests: EndToEndCase {
    private func killingScript(_ pid: pid_t, at action: String = "post-dump") -> String {
        "test \"$CRTOOLS_SCRIPT_ACTION\" != \(action) || { kill -9 \(pid); exit 1; }"
    }

    func testAChildKilledDuringTheDumpIsNamedAndTheRestOfTheTreeRunsOn() throws {
        let tree = try startFixture("sharedtree", ["--procs", "2", "--shared-mib", "1", "--heap-mib", "1"])
        try tree.waitFor(line: "ready")
        let child = try XCTUnwrap(ProcessTable.descendants(of: tree.pid).first, "the fixture's child")
        let image = try scratch.newDirectory("image")
        let failed = try crtool(["dump", "-t", "\(tree.pid)", "-D", image, "--action-script", killingScript(child)])

        XCTAssertEqual(failed.status, .exited(1), "\(failed)")
        // The command is the kernel's, cut at 15 bytes.
        XCTAssertTrue(failed.stderr.contains("error: pid \(child) (fixture-sharedt) was killed by SIGKILL during the dump; "
            + "no image was kept, and the rest of the tree runs on as it was (the dump failed at: "), failed.stderr)
        XCTAssertFalse(fileExists(image + "/manifest.json"), "a failed dump left its manifest")
        let mark = tree.lineCount
        try tree.waitFor("root ticks after the failed dump", from: mark) { $0.hasPrefix("pid \(tree.pid) tick ") }
        XCTAssertEqual(ProcessIdentity.of(child)?.state, "Z", "the child is its parent's to reap, as after any kill")
        assertNoFailures(tree)
    }

    func testARootKilledDuringTheDumpIsNamedWithItsSignal() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        let image = try scratch.newDirectory("image")
        let failed = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "--action-script", killingScript(sleeper.pid)])

        XCTAssertEqual(failed.status, .exited(1), "\(failed)")
        XCTAssertTrue(failed.stderr.contains("error: pid \(sleeper.pid) (fixture-sleeper) was killed by SIGKILL during the dump; "
            + "no image was kept (the dump failed at: "), failed.stderr)
        XCTAssertFalse(failed.stderr.contains("the rest of the tree"), failed.stderr)
        XCTAssertEqual(try waitForExit(sleeper.pid, timeout: 5), .signaled(SIGKILL))
    }

    func testAProcessKilledDuringTheRestoreIsNamedAndEveryPidIsFreeAfter() throws {
        let tree = try startFixture("sharedtree", ["--procs", "2", "--shared-mib", "1", "--heap-mib", "1"])
        try tree.waitFor(line: "ready")
        let child = try XCTUnwrap(ProcessTable.descendants(of: tree.pid).first, "the fixture's child")
        let image = try checkpoint(tree)
        try waitUntilFree(tree.pid)
        try waitUntilFree(child)

        let failed = try crtool(["restore", "-D", image, "-d", "--action-script", killingScript(child, at: "post-restore")])
        XCTAssertEqual(failed.status, .exited(1), "\(failed)")
        // Named as the image has it, not as the half-made process is.
        XCTAssertTrue(failed.stderr.contains("error: pid \(child) (fixture-sharedt) was killed by SIGKILL during the restore; "
            + "every process the restore had made was killed (the restore failed at: "), failed.stderr)
        // Reaped by crtool before it returned, not left for init.
        XCTAssertTrue(ProcessTable.isFree(tree.pid), "\(ProcessTable.stat(tree.pid).map { "\($0)" } ?? "")")
        XCTAssertTrue(ProcessTable.isFree(child), "\(ProcessTable.stat(child).map { "\($0)" } ?? "")")

        let mark = tree.lineCount
        try restore(image, as: tree)
        try tree.waitFor("the child ticks after a restore", from: mark) { $0.hasPrefix("pid \(child) tick ") }
        assertNoFailures(tree)
    }
}
