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
    private func startPipedSleeper() throws -> (fixture: Fixture, file: String) {
        let output = scratch.newPath("piped.stdout")
        return try startLoggedSleeper("/bin/sh", ["-c", "\(BuildProducts.fixture("sleeper")) | cat > \(output)"], output: output, through: "pipe")
    }

    /// Runs `launcher`, which starts fixture-sleeper as its child with its
    /// output going to `output` through a logger outside it, and returns
    /// the sleeper once it woke twice, with the name of its fd 1, a
    /// `through` ("pipe" or "socket").
    private func startLoggedSleeper(_ launcher: String, _ arguments: [String], output: String,
                                    through kind: String) throws -> (fixture: Fixture, file: String) {
        let stderr = scratch.newPath("launcher.stderr")
        let parent = try spawnProcess(launcher, arguments, stdout: scratch.newPath("launcher.stdout"), stderr: stderr)
        var sleeper: pid_t?
        for _ in 0..<100 where sleeper == nil {
            sleeper = ProcessTable.children(of: parent).first { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("fixture-sleeper") == true }
            if sleeper == nil { usleep(20_000) }
        }
        let fixture = Fixture(name: "sleeper", pid: try XCTUnwrap(sleeper, "no sleeper under \(launcher) \(parent)"), log: LogFile(path: output),
                              stderrPath: stderr)
        try fixture.waitFor(line: "woke 2")
        let name = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(fixture.pid)/fd/1")
        XCTAssertTrue(name.hasPrefix("\(kind):["), name)
        return (fixture, name)
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

    /// A job whose output goes to a logger through a unix stream socket,
    /// as a supervisor connects it: the logger is gone by the restore, and
    /// the job is given a connection to a new one.
    func testAStreamToALoggerThatIsGoneIsGivenAnotherAtTheRestore() throws {
        let python = try XCTUnwrap(BuildProducts.python3, "python3 is missing: scripts/install-deps.sh installs it")
        let output = scratch.newPath("logged.out")
        let (sleeper, stream) = try startLoggedSleeper(python, ["-c", """
            import os, socket, sys
            ours, theirs = socket.socketpair()
            if os.fork() == 0:
                ours.close()
                os.dup2(theirs.fileno(), 1)
                os.execv(sys.argv[1], [sys.argv[1]])
            theirs.close()
            with open(sys.argv[2], "w") as out:
                for line in ours.makefile():
                    out.write(line)
                    out.flush()
            os.wait()
            """, BuildProducts.fixture("sleeper"), output],
                                                       output: output, through: "socket")
        try assertDumpRefused(sleeper, mentioning: ["is outside the image", "--external \(stream) leaves it out", "--inherit-fd fd[N]:\(stream)"])

        let image = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "--external", stream])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(sleeper.pid) }, "the logger did not reap the job")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("left out at the dump: restore --inherit-fd fd[N]:\(stream) gives it one"), shown.stdout)
        let notASocket = try crtool(opening: "3>/dev/null", ["restore", "-D", image, "-d", "--inherit-fd", "fd[3]:\(stream)"])
        XCTAssertEqual(notASocket.status, .exited(1), "\(notASocket)")
        XCTAssertTrue(notASocket.stderr.contains("fd 3 is not a socket"), "\(notASocket)")

        // The new logger listens; the restore connects to it first and
        // hands crtool the connection as fd 3.
        let address = scratch.newPath("logger.sock")
        let newOutput = scratch.newPath("new-logger.out")
        _ = try spawnProcess(python, ["-c", """
            import socket, sys
            listener = socket.socket(socket.AF_UNIX)
            listener.bind(sys.argv[1])
            listener.listen(1)
            connection, _ = listener.accept()
            with open(sys.argv[2], "w") as out:
                for line in connection.makefile():
                    out.write(line)
                    out.flush()
            """, address, newOutput], stdout: scratch.newPath("new-logger.stdout"), stderr: scratch.newPath("new-logger.stderr"))
        XCTAssertTrue(poll(timeout: 10) { fileExists(address) }, "the new logger never listened")
        let before = sleeper.lineCount
        try waitUntilFree(sleeper.pid)
        let restored = try runCommand(python, ["-c", """
            import os, socket, sys
            connection = socket.socket(socket.AF_UNIX)
            connection.connect(sys.argv[1])
            if connection.fileno() != 3:
                os.dup2(connection.fileno(), 3)
            os.set_inheritable(3, True)
            os.execv(sys.argv[2], sys.argv[2:])
            """, address, BuildProducts.crtool, "restore", "-D", image, "-d", "--inherit-fd", "fd[3]:\(stream)"],
                                      outputPrefix: scratch.newPath("crtool-inherit"), timeout: 60)
        XCTAssertTrue(restored.succeeded, "\(restored)")
        let moved = Fixture(name: "sleeper", pid: sleeper.pid, log: LogFile(path: newOutput), stderrPath: sleeper.stderrPath)
        _ = try moved.waitFor("woke", atLeast: before + 2)
        XCTAssertEqual(sleeper.lineCount, before, "the old output got more: \(sleeper.log.lines())")
        let woke = { (log: LogFile) in log.lines().compactMap { $0.hasPrefix("woke ") ? Int($0.dropFirst(5)) : nil } }
        XCTAssertEqual(woke(moved.log).first, try XCTUnwrap(woke(sleeper.log).last) + 1, "the count goes on where the old logger left it")
        assertNoFailures(moved)
    }
}
