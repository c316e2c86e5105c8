import Glibc
import XCTest

/// A job started from one terminal's shell, restored with --shell-job from
/// another: it reads from crtool's terminal (the one crtool restore runs
/// on) and owns its foreground, so it is not stopped by its first read.
final class ShellJobTests: EndToEndCase {
    func testShellJobReadsFromTheRestoringTerminal() throws {
        let python = try XCTUnwrap(BuildProducts.python3, "python3 is needed for the session helper")
        let session = BuildProducts.packageRoot + "/fixtures/shell/session.py"
        let (job, log, image, first) = try dumpJobOnATerminal()

        let second = try PseudoTerminal()
        second.closeSlave()
        let crtoolOut = LogFile(path: scratch.newPath("crtool-restore.log"))
        let shellB = try spawnProcess(python, [session, second.slavePath, crtoolOut.path, BuildProducts.crtool,
                                               "restore", "-j", "-D", image],
                                      stdout: scratch.newPath("shell-b.out"), stderr: scratch.newPath("shell-b.err"))
        XCTAssertTrue(poll(timeout: 15) { ProcessTable.isAlive(job) }, "the job is restored: \(crtoolOut.tail())")
        let mark = log.lines().count
        try second.send("two\n")
        try log.waitForLine("got two from the restoring terminal", from: mark, timeout: 15, process: job) { $0 == "got two" }
        XCTAssertFalse(ProcessTable.isStopped(job), "the job must own the foreground, not stop on SIGTTIN")

        try killAndReap(job)
        _ = try? waitForExit(shellB, timeout: 10)
        XCTAssertTrue(log.failures().isEmpty, log.tail())
        // Held to here, so the second terminal cannot take its path.
        first.close()
    }

    /// The terminal the job had is closed after the dump: a restore without
    /// --shell-job would reopen it by path and fail once the processes
    /// exist. It is refused before anything is made, naming the terminal
    /// and the way out; the check says the same, and passes for a restore
    /// with --shell-job, which gives the job crtool's terminal instead.
    func testAClosedTerminalIsNamedBeforeAnythingIsMade() throws {
        let (job, _, image, terminal) = try dumpJobOnATerminal()
        let path = terminal.slavePath
        terminal.close()
        XCTAssertTrue(poll(timeout: 10) { !fileExists(path) }, "\(path) goes once nothing holds the terminal")

        try assertRestoreRefused(image, pid: job, mentioning: [
            "\(path) (a terminal, fd 0 of pid \(job))", "ENOENT", "restore with --shell-job",
        ])
        let check = try crtool(["restore", "-D", image, "--check-only", "--shell-job"])
        XCTAssertTrue(check.succeeded, "with --shell-job the old terminal is not needed: \(check)")
    }

    // MARK: -

    /// The reader fixture started as the foreground job of a shell session
    /// on a fresh terminal, shown to read a line from it, and dumped with
    /// --shell-job; the session's shell is gone and the job's pid free.
    /// Returns the terminal, whose master the test still holds.
    private func dumpJobOnATerminal() throws -> (job: pid_t, log: LogFile, image: String, terminal: PseudoTerminal) {
        let python = try XCTUnwrap(BuildProducts.python3, "python3 is needed for the session helper")
        let session = BuildProducts.packageRoot + "/fixtures/shell/session.py"
        let first = try PseudoTerminal()
        first.closeSlave()
        let log = LogFile(path: scratch.newPath("job.log"))
        let shellOut = LogFile(path: scratch.newPath("shell-a.out"))
        let shellA = try spawnProcess(python, [session, first.slavePath, log.path, BuildProducts.fixture("reader")],
                                      stdout: shellOut.path, stderr: scratch.newPath("shell-a.err"))
        let jobLine = try shellOut.waitForLine("the job's pid", timeout: 15, process: shellA) { $0.hasPrefix("job ") }
        let job = try XCTUnwrap(pid_t(jobLine.line.dropFirst(4)))
        try log.waitForLine("ready", timeout: 15, process: job) { $0 == "ready" }
        try first.send("one\n")
        try log.waitForLine("got one", timeout: 15, process: job) { $0 == "got one" }

        let image = try scratch.newDirectory("image")
        let dump = try crtool(["dump", "-t", "\(job)", "-D", image, "--shell-job"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertNotNil(try waitForExit(shellA, timeout: 10), "the first shell ends when its job was dumped")
        try waitUntilFree(job)
        return (job, log, image, first)
    }
}
