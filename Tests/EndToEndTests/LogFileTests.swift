import Foundation
import Glibc
import XCTest

/// -o/--log-file, as CRIU's users keep a log beside each image: everything
/// about the run goes to the file, relative to the image directory, even
/// with -q; a failed dump leaves its reason there; a log never spoils the
/// image it sits in.
final class LogFileTests: EndToEndCase {
    private func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
    }

    func testDumpAndRestoreLogBesideTheImageEvenWhenQuiet() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        let image = try scratch.newDirectory("image")
        let dump = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "-o", "dump.log", "-q"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertEqual(dump.stdout + dump.stderr, "", "-q keeps the terminal quiet")
        XCTAssertNotNil(try waitForExit(sleeper.pid, timeout: 10), "the dump kills the sleeper")
        try waitUntilFree(sleeper.pid)

        let dumpLog = try XCTUnwrap(readTextFile(image + "/dump.log"), "no dump.log in the image directory")
        XCTAssertEqual(mode(image + "/dump.log"), 0o600)
        XCTAssertTrue(dumpLog.hasPrefix(BuildProducts.crtool + " dump -t \(sleeper.pid) -D "), dumpLog)
        XCTAssertTrue(dumpLog.contains("\npid \(sleeper.pid) thread \(sleeper.pid) was stopped in "), "what -v says: \(dumpLog)")
        XCTAssertTrue(dumpLog.contains("\nphases: freeze "), dumpLog)
        XCTAssertTrue(dumpLog.contains("\ndumped pid \(sleeper.pid) to "), "the summary: \(dumpLog)")

        let mark = sleeper.lineCount
        let restore = try crtool(["restore", "-D", image, "-d", "-o", "restore.log", "-q"])
        XCTAssertTrue(restore.succeeded, "\(restore)")
        XCTAssertEqual(restore.stdout + restore.stderr, "")
        let restoreLog = try XCTUnwrap(readTextFile(image + "/restore.log"), "no restore.log in the image directory")
        XCTAssertTrue(restoreLog.contains("\nphases: verify "), restoreLog)
        XCTAssertTrue(restoreLog.contains("\nrestored pid \(sleeper.pid) from "), restoreLog)
        try sleeper.waitForMore("woke", 2, after: mark)
        XCTAssertTrue(try crtool(["show", image]).succeeded, "the logs do not spoil the image")
        try killAndReap(sleeper.pid)
        assertNoFailures(sleeper)
    }

    func testAFailedDumpLeavesItsReasonWhereTheImageWouldBe() throws {
        let image = scratch.newPath("image")
        let pid = ProcessTable.unusedPid()
        let failed = try crtool(["dump", "-t", "\(pid)", "-D", image, "-o", "dump.log"])
        XCTAssertFalse(failed.succeeded)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: image), ["dump.log"])
        let log = try XCTUnwrap(readTextFile(image + "/dump.log"))
        XCTAssertTrue(log.hasSuffix("crtool dump: error: no process with PID \(pid)\n"), log)

        // The log alone is no image: a dump into the same directory goes ahead.
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        let dump = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "-R", "-o", "dump.log"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertFalse(try XCTUnwrap(readTextFile(image + "/dump.log")).contains("error"), "the log is written anew")
        try killAndReap(sleeper.pid)
    }

    func testALogNamedLikeAnImageFileIsRefused() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        let image = scratch.newPath("image")
        for name in ["dump.json", "pages.img"] {
            let result = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "-o", name])
            XCTAssertFalse(result.succeeded)
            XCTAssertTrue(result.stderr.contains("--log-file \(name) would be taken for a file of the image"), result.stderr)
        }
        XCTAssertEqual(ProcessTable.tracer(of: sleeper.pid), 0)
        XCTAssertTrue(ProcessTable.isAlive(sleeper.pid), "refused before the tree was touched")
        try killAndReap(sleeper.pid)
    }
}
