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
}
