import Foundation
import Glibc
import XCTest

/// --action-script runs the user's shell code at each point of a dump
/// and a restore, as CRIU does, and a script that fails stops the
/// operation without losing the process.
final class ActionScriptTests: EndToEndCase {
    /// A script that writes where it was run and what it saw: its action,
    /// the root's pid and state, whether the image was complete.
    private func recordingScript() throws -> (script: String, log: String) {
        let log = scratch.newPath("actions.log")
        let path = scratch.newPath("record.sh")
        try """
            state=$(sed -n 's/^State:[[:space:]]*\\(.\\).*/\\1/p' /proc/${CRTOOLS_INIT_PID:-0}/status 2>/dev/null)
            if [ -f "$CRTOOLS_IMAGE_DIR/manifest.json" ]; then manifest=yes; else manifest=no; fi
            echo "$CRTOOLS_SCRIPT_ACTION pid=${CRTOOLS_INIT_PID:-none} state=${state:-gone} manifest=$manifest dir=$CRTOOLS_IMAGE_DIR" >> \(log)

            """.write(toFile: path, atomically: true, encoding: .utf8)
        return ("sh \(path)", log)
    }

    func testScriptsRunAtEachPointOfADumpAndARestoreInOrder() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let (script, log) = try recordingScript()
        let second = "echo second $CRTOOLS_SCRIPT_ACTION >> \(log)"
        let image = try checkpoint(sleeper, options: ["--action-script", script, "--action-script", second])
        let pid = sleeper.pid
        let dumped = LogFile(path: log).lines()
        XCTAssertEqual(dumped.count, 4, "\(dumped)")
        let running = try XCTUnwrap(dumped.first)
        XCTAssertTrue(running.hasPrefix("pre-dump pid=\(pid) state="), running)
        XCTAssertFalse(running.contains("state=t") || running.contains("state=gone"), "the tree was touched before pre-dump: \(running)")
        XCTAssertTrue(running.hasSuffix("manifest=no dir=\(image)"), running)
        XCTAssertEqual(Array(dumped.dropFirst()), ["second pre-dump", "post-dump pid=\(pid) state=t manifest=yes dir=\(image)", "second post-dump"])

        let mark = sleeper.lineCount
        try restore(image, as: sleeper, options: ["--action-script", script])
        let restored = Array(LogFile(path: log).lines().dropFirst(4))
        XCTAssertEqual(restored.count, 4, "\(restored)")
        XCTAssertEqual(Array(restored.prefix(3)), [
            "pre-restore pid=none state=gone manifest=yes dir=\(image)",
            "post-restore pid=\(pid) state=t manifest=yes dir=\(image)",
            "pre-resume pid=\(pid) state=t manifest=yes dir=\(image)",
        ])
        let resumed = try XCTUnwrap(restored.last)
        XCTAssertTrue(resumed.hasPrefix("post-resume pid=\(pid) state="), resumed)
        XCTAssertFalse(resumed.contains("state=t") || resumed.contains("state=gone"), "not let go by post-resume: \(resumed)")
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    func testAScriptThatFailsStopsTheDumpOrRestoreAndLosesNothing() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let failAt = { (action: String) in "test \"$CRTOOLS_SCRIPT_ACTION\" != \(action) || exit 3" }

        for action in ["pre-dump", "post-dump"] {
            let image = try scratch.newDirectory("image")
            let refused = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "--action-script", failAt(action)])
            XCTAssertEqual(refused.status, .exited(1), "\(refused)")
            XCTAssertTrue(refused.stderr.contains("the action script `\(failAt(action))` failed at \(action) (exit status 3)"), "\(refused)")
            XCTAssertTrue(refused.stderr.contains(action == "pre-dump" ? "nothing was dumped" : "the image is removed, and the tree runs on as it was"), "\(refused)")
            XCTAssertFalse(fileExists(image + "/manifest.json"), "a failed dump left its manifest")
            let mark = sleeper.lineCount
            try sleeper.waitForMore("woke", 2, after: mark)
        }

        let image = try checkpoint(sleeper)
        for action in ["pre-restore", "post-restore", "pre-resume"] {
            let refused = try crtool(["restore", "-D", image, "-d", "--action-script", failAt(action)])
            XCTAssertEqual(refused.status, .exited(1), "\(refused)")
            XCTAssertTrue(refused.stderr.contains("failed at \(action) (exit status 3)"), "\(refused)")
            XCTAssertTrue(refused.stderr.contains(action == "pre-restore" ? "nothing was restored" : "the restored processes were killed before they ran"), "\(refused)")
            try waitUntilFree(sleeper.pid)
        }
        // After the processes run, a failure can only be told.
        let mark = sleeper.lineCount
        let restored = try restore(image, as: sleeper, options: ["--action-script", failAt("post-resume")])
        XCTAssertTrue(restored.stderr.contains("failed at post-resume (exit status 3); the restored processes run on"), "\(restored)")
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    /// A pre-dump runs the dump's two points; failing after the image is
    /// made removes it, and the tree runs on, as after any pre-dump.
    func testAPreDumpRunsTheDumpsPoints() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let (script, log) = try recordingScript()
        let image = try scratch.newDirectory("pre")
        let made = try crtool(["pre-dump", "-t", "\(sleeper.pid)", "-D", image, "--action-script", script])
        XCTAssertTrue(made.succeeded, "\(made)")
        let seen = LogFile(path: log).lines()
        XCTAssertEqual(seen.count, 2, "\(seen)")
        XCTAssertTrue(seen.first?.hasPrefix("pre-dump pid=\(sleeper.pid) ") == true, "\(seen)")
        // A pre-dump lets the tree go once its pages are read.
        let after = try XCTUnwrap(seen.last)
        XCTAssertTrue(after.hasPrefix("post-dump pid=\(sleeper.pid) state=") && after.hasSuffix(" manifest=yes dir=\(image)"), after)
        XCTAssertFalse(after.contains("state=t"), after)

        let failing = try scratch.newDirectory("pre")
        let refused = try crtool(["pre-dump", "-t", "\(sleeper.pid)", "-D", failing, "--action-script", "test $CRTOOLS_SCRIPT_ACTION != post-dump"])
        XCTAssertEqual(refused.status, .exited(1), "\(refused)")
        XCTAssertTrue(refused.stderr.contains("failed at post-dump (exit status 1); the image is removed"), "\(refused)")
        XCTAssertFalse(fileExists(failing + "/manifest.json"))
        let mark = sleeper.lineCount
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }
}
