import Glibc
import Ptrace
import XCTest

final class CommandOutputTests: XCTestCase {
    /// A program that exits without reading its input (nft stopping at a
    /// bad first line) must not take the caller down with SIGPIPE: the
    /// write fails quietly and the program's status and stderr come back.
    func testProgramThatStopsReadingEarlyDoesNotKillTheCaller() throws {
        let input = String(repeating: "add rule that nobody reads\n", count: 40_000)
        let result = try CommandOutput.run("/bin/sh", ["-c", "echo gone early >&2; exit 3"], input: input)
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual(result.errorText, "gone early\n")
        var pending = sigset_t()
        sigpending(&pending)
        XCTAssertEqual(sigismember(&pending, SIGPIPE), 0, "no SIGPIPE left pending for later")
    }

    func testInputReachesTheProgram() throws {
        let result = try CommandOutput.run("/bin/sh", ["-c", "read line; echo \"got $line\" >&2"], input: "hello\n")
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.errorText, "got hello\n")
    }
}
