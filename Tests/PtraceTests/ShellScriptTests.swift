import Glibc
import Ptrace
import XCTest

/// The shell an action script runs in: how it ended, the variables it is
/// given on top of crtool's, and nothing of crtool's open but stdout and
/// stderr.
final class ShellScriptTests: XCTestCase {
    func testHowTheScriptEndedIsReported() throws {
        XCTAssertEqual(try ShellScript.run("exit 7", environment: [:]), .exited(7))
        XCTAssertTrue(try ShellScript.run("true", environment: [:]).succeeded)
        let killed = try ShellScript.run("kill -TERM $$", environment: [:])
        XCTAssertEqual(killed, .killed(signal: SIGTERM))
        XCTAssertEqual(killed.description, "killed by SIGTERM")
    }

    func testVariablesAreAddedToCrtoolsOwnAndReplaceThem() throws {
        let path = try XCTUnwrap(getenv("PATH").map { String(cString: $0) })
        XCTAssertEqual(try ShellScript.run(#"test "$ACTION" = post-dump && test "$PATH" = "\#(path)" && test "$HOME" = /elsewhere"#,
                                           environment: ["ACTION": "post-dump", "HOME": "/elsewhere"]), .exited(0))
        // Replaced, not given twice: a program that reads the first of two
        // would see crtool's.
        setenv("CRTOOL_TEST_REPLACED", "crtool's", 1)
        defer { unsetenv("CRTOOL_TEST_REPLACED") }
        XCTAssertEqual(try ShellScript.run(#"test "$(tr '\0' '\n' < /proc/$$/environ | grep -c '^CRTOOL_TEST_REPLACED=')" = 1"#,
                                           environment: ["CRTOOL_TEST_REPLACED": "the script's"]), .exited(0))
    }

    func testOnlyStdoutAndStderrAreInheritedAndStdinIsEmpty() throws {
        let fd = open("/dev/zero", O_RDONLY)
        XCTAssertGreaterThan(fd, 2)
        defer { close(fd) }
        XCTAssertEqual(try ShellScript.run("test ! -e /proc/$$/fd/\(fd)", environment: [:]), .exited(0), "fd \(fd) reached the script")
        XCTAssertEqual(try ShellScript.run(#"test "$(readlink /proc/$$/fd/0)" = /dev/null"#, environment: [:]), .exited(0))
    }
}
