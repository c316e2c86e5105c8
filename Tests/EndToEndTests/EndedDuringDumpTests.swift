import Glibc
import XCTest

/// A process of the tree killed from outside while the tree is frozen
/// fails the dump, and the error says so first, naming the process and
/// the signal, instead of the ESRCH or ENOENT the next request met. The
/// post-dump action script runs at a point where the tree is frozen
/// every time, which makes the kill land there.
final class EndedDuringDumpTests: EndToEndCase {
    private func killingScript(_ pid: pid_t) -> String {
        "test \"$CRTOOLS_SCRIPT_ACTION\" != post-dump || { kill -9 \(pid); exit 1; }"
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
}
