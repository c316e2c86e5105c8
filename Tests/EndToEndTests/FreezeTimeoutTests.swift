import Glibc
import XCTest

/// A thread asleep in the kernel where no ptrace stop reaches it (here a
/// parent inside vfork, waiting for its child) cannot be frozen. The dump
/// must give up after --timeout, say which thread and why, and leave every
/// process going as it was, not wait for ever with the tree half stopped.
final class FreezeTimeoutTests: EndToEndCase {
    func testThreadThatCannotStopEndsTheDumpAfterTheTimeout() throws {
        let parent = try startFixture("vforker")
        var tree: [ProcessIdentity] = []
        XCTAssertTrue(poll(timeout: 5) {
            tree = ProcessIdentity.tree(parent.pid)
            return tree.count == 2 && ProcessTable.statusField(parent.pid, "State")?.hasPrefix("D") == true
        }, "a parent in vfork (state D) and its child: \(tree)")
        let child = try XCTUnwrap(tree.map(\.pid).first { $0 != parent.pid })

        let dir = try scratch.newDirectory("image")
        let started = monotonicSeconds()
        let result = try crtool(["dump", "-t", "\(parent.pid)", "-D", dir, "--timeout", "1"], timeout: 30)
        let took = monotonicSeconds() - started
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertLessThan(took, 10, "the dump gave up after about a second")
        for text in ["thread \(parent.pid) of pid \(parent.pid) did not stop within 1 s", "state D", "vfork", "--timeout"] {
            XCTAssertTrue(result.stderr.contains(text), "the error should say \"\(text)\": \(result)")
        }
        XCTAssertFalse(fileExists(dir + "/manifest.json"), "a failed dump left a manifest")
        for pid in [parent.pid, child] {
            XCTAssertEqual(ProcessTable.tracer(of: pid), 0, "pid \(pid) is traced still")
        }
        // Still working: the child ends, and the parent comes back from vfork.
        XCTAssertEqual(kill(child, SIGTERM), 0)
        try parent.waitFor(line: "parent back")
        try killAndReap(parent.pid)
        _ = try? waitForExit(child, timeout: 5)
    }
}
