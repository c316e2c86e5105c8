import Glibc
import XCTest

/// `tail -F` (coreutils) waits in poll with a timeout on its inotify
/// descriptor. A dump breaks that poll off with a restart block the
/// restored thread does not have: the poll must start over rather than
/// fail with EINTR, which tail takes for an error and exits. After the
/// restore it must print what is appended and follow the file through a
/// rotation.
final class TailFollowScenarioTests: EndToEndCase {
    func testTailFollowsTheFileAfterTheRestore() throws {
        let path = scratch.newPath("followed.log")
        try writeWholeFile(path, Array("first line\n".utf8))
        let tail = try startProgram("tail", "/usr/bin/tail", ["-F", "-s", "5", path], isReady: { $0 == "first line" })

        let (_, mark) = try roundTrip(tail)
        sleepSeconds(0.3)
        XCTAssertTrue(ProcessTable.isAlive(tail.pid), "tail ended after the restore: \(tail.log.tail()) \(tail.stderrTail())")
        let appended = open(path, O_WRONLY | O_APPEND)
        XCTAssertGreaterThanOrEqual(appended, 0)
        _ = "after the restore\n".withCString { write(appended, $0, strlen($0)) }
        close(appended)
        try tail.waitFor(line: "after the restore", from: mark)

        XCTAssertEqual(rename(path, path + ".1"), 0)
        try writeWholeFile(path, Array("after the rotation\n".utf8))
        try tail.waitFor(line: "after the rotation", from: mark)
        XCTAssertFalse(tail.stderrTail().contains("Interrupted system call"), tail.stderrTail())
    }

    /// A dump that leaves tail running breaks its poll off too, and the
    /// kernel carries the poll on in restart_syscall; the next dump finds
    /// it there, where the call is no longer named. That image must
    /// restore a tail that still follows the file.
    func testTailFollowsAfterADumpThatLeftItRunning() throws {
        // tail -F watches the file's directory; the images are made
        // elsewhere, so that no event wakes it between the two dumps.
        let path = try scratch.newDirectory("followed") + "/followed.log"
        try writeWholeFile(path, Array("first line\n".utf8))
        let tail = try startProgram("tail", "/usr/bin/tail", ["-F", "-s", "5", path], isReady: { $0 == "first line" })
        _ = try checkpoint(tail, options: ["--leave-running"])
        sleepSeconds(0.2)
        XCTAssertEqual(readTextFile("/proc/\(tail.pid)/syscall")?.split(separator: " ").first, "219",
                       "tail carries its poll on in restart_syscall")
        let look = try crtool(["dump", "-t", "\(tail.pid)", "-D", try scratch.newDirectory("look"), "--leave-running", "-v"])
        let frozenIn = try XCTUnwrap((look.stdout + look.stderr).split(separator: "\n").first { $0.contains("was stopped in") }, "\(look)")
        XCTAssertTrue(frozenIn.hasSuffix("stopped in poll"), "the dump names the call carried on: \(frozenIn)")

        let (_, mark) = try roundTrip(tail)
        sleepSeconds(0.3)
        XCTAssertTrue(ProcessTable.isAlive(tail.pid), "tail ended after the restore: \(tail.stderrTail())")
        let appended = open(path, O_WRONLY | O_APPEND)
        _ = "after the restore\n".withCString { write(appended, $0, strlen($0)) }
        close(appended)
        try tail.waitFor(line: "after the restore", from: mark)
    }
}
