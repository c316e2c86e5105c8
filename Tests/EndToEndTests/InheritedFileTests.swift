import Foundation
import Glibc
import XCTest

/// A file the restore is given in place of one the image had: the pipe to
/// a reader that is gone by the restore (left out at the dump with
/// --external), or a log to write elsewhere. crtool gets the new one as a
/// descriptor of its own (--inherit-fd fd[N]:FILE), as CRIU does.
final class InheritedFileTests: EndToEndCase {
    /// `fixture-sleeper | cat > out`, as a job whose output goes to a
    /// logger: the sleeper's stdout is a pipe whose reader is outside it.
    private func startPipedSleeper() throws -> (fixture: Fixture, pipe: String) {
        let output = scratch.newPath("piped.stdout")
        let shell = try spawnProcess("/bin/sh", ["-c", "\(BuildProducts.fixture("sleeper")) | cat > \(output)"],
                                     stdout: scratch.newPath("sh.stdout"), stderr: scratch.newPath("sh.stderr"))
        var sleeper: pid_t?
        for _ in 0..<100 where sleeper == nil {
            sleeper = ProcessTable.children(of: shell).first { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("fixture-sleeper") == true }
            if sleeper == nil { usleep(20_000) }
        }
        let fixture = Fixture(name: "sleeper", pid: try XCTUnwrap(sleeper, "no sleeper under sh \(shell)"), log: LogFile(path: output),
                              stderrPath: scratch.newPath("sh.stderr"))
        try fixture.waitFor(line: "woke 2")
        let pipe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(fixture.pid)/fd/1")
        XCTAssertTrue(pipe.hasPrefix("pipe:["), pipe)
        return (fixture, pipe)
    }

    /// Runs crtool with `opening` (a shell redirection such as `3>path`)
    /// done first: the descriptor it gives to --inherit-fd.
    private func crtool(opening redirection: String, _ arguments: [String]) throws -> CommandResult {
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        return try runCommand("/bin/sh", ["-c", "exec \(redirection); exec \(BuildProducts.crtool) \(quoted)"],
                              outputPrefix: scratch.newPath("crtool-inherit"), timeout: 60)
    }

    /// Restores `sleeper` from `image` with descriptor 3 opened by
    /// `redirection` and given for `file`, and returns the sleeper as seen
    /// through `output`, where its next lines must go and not to its old
    /// output.
    private func restore(_ image: String, of sleeper: Fixture, giving redirection: String, for file: String, writingTo output: String) throws -> Fixture {
        let before = sleeper.lineCount
        try waitUntilFree(sleeper.pid)
        let restored = try crtool(opening: redirection, ["restore", "-D", image, "-d", "--inherit-fd", "fd[3]:\(file)"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        let moved = Fixture(name: sleeper.name, pid: sleeper.pid, log: LogFile(path: output), stderrPath: sleeper.stderrPath)
        _ = try moved.waitFor("woke", atLeast: before + 2)
        XCTAssertEqual(sleeper.lineCount, before, "the old output got more: \(sleeper.log.lines())")
        return moved
    }

    func testAPipeToAReaderThatIsGoneIsGivenAnotherAtTheRestore() throws {
        let (sleeper, pipe) = try startPipedSleeper()
        try assertDumpRefused(sleeper, mentioning: ["whose other end (the read end) is held by", "--external \(pipe) leaves it out"])
        // Not the test's child, so not reaped here: its shell reaps it.
        let image = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "--external", pipe])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("fd 1: pipe \(pipe) pos 0, left out at the dump: restore --inherit-fd fd[N]:\(pipe) gives it one"), shown.stdout)
        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["fd 1 of pid \(sleeper.pid) is \(pipe), left out at the dump", "--inherit-fd fd[N]:\(pipe)"])
        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["--inherit-fd fd[1]:pipe:[1]: no descriptor of the image is pipe:[1]"],
                                 options: ["--inherit-fd", "fd[1]:\(pipe)", "--inherit-fd", "fd[1]:pipe:[1]"])
        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["crtool has no fd 97 open"], options: ["--inherit-fd", "fd[97]:\(pipe)"])
        let notAPipe = try crtool(opening: "3>/dev/null", ["restore", "-D", image, "-d", "--inherit-fd", "fd[3]:\(pipe)"])
        XCTAssertEqual(notAPipe.status, .exited(1), "\(notAPipe)")
        XCTAssertTrue(notAPipe.stderr.contains("fd 3 is not a pipe or FIFO"), "\(notAPipe)")
        let misspelt = try crtool(["restore", "-D", image, "-d", "--inherit-fd", "3:\(pipe)"])
        XCTAssertEqual(misspelt.status, .exited(64), "\(misspelt)")

        // The new reader: a FIFO read by cat, opened by the restore's shell.
        let fifo = scratch.newPath("new-reader")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let newOutput = scratch.newPath("new-reader.out")
        _ = try spawnProcess("/bin/cat", [fifo], stdout: newOutput, stderr: scratch.newPath("cat.stderr"))
        let reading = try restore(image, of: sleeper, giving: "3>\(fifo)", for: pipe, writingTo: newOutput)
        let woke = { (log: LogFile) in log.lines().compactMap { $0.hasPrefix("woke ") ? Int($0.dropFirst(5)) : nil } }
        XCTAssertEqual(woke(reading.log).first, try XCTUnwrap(woke(sleeper.log).last) + 1, "the count goes on where the old reader left it")
        assertNoFailures(reading)
    }

    /// Any file of the image can be given another: here the log, named
    /// without its leading slash as CRIU users write it, and rotated away
    /// since the dump, which refuses a restore that is not given one.
    func testALogIsWrittenWhereTheRestoreIsToldTo() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let log = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sleeper.pid)/fd/1")
        let image = try checkpoint(sleeper)
        let rotated = log + ".1"
        XCTAssertEqual(rename(log, rotated), 0)
        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["\(log)", "No such file"])
        let before = Fixture(name: sleeper.name, pid: sleeper.pid, log: LogFile(path: rotated), stderrPath: sleeper.stderrPath)
        let elsewhere = scratch.newPath("elsewhere.log")
        let moved = try restore(image, of: before, giving: "3>>\(elsewhere)", for: String(log.dropFirst()), writingTo: elsewhere)
        assertNoFailures(moved)
    }
}
