import Glibc
import XCTest

/// Running crtool the way a user would, with its exit status and output.
extension EndToEndCase {
    func crtool(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
        try BuildProducts.requireExecutable(BuildProducts.crtool)
        let prefix = scratch.newPath("crtool-\(arguments.first ?? "")")
        return try runCommand(BuildProducts.crtool, arguments, outputPrefix: prefix, timeout: timeout)
    }

    /// Runs crtool with `opening` (a shell redirection such as `3>path`)
    /// done first: the descriptor it gives to --inherit-fd.
    func crtool(opening redirection: String, _ arguments: [String]) throws -> CommandResult {
        try BuildProducts.requireExecutable(BuildProducts.crtool)
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        return try runCommand("/bin/sh", ["-c", "exec \(redirection); exec \(BuildProducts.crtool) \(quoted)"],
                              outputPrefix: scratch.newPath("crtool-inherit"), timeout: 60)
    }

    /// The redirections and --inherit-fd arguments that give a restore
    /// the namespace at each `path` for its `key`, on fds from 3 up.
    func givingNamespaces(_ given: [(key: String, path: String)]) -> (opening: String, arguments: [String]) {
        let fds = given.indices.map { 3 + $0 }
        return (zip(fds, given).map { "\($0)<\($1.path)" }.joined(separator: " "),
                zip(fds, given).flatMap { ["--inherit-fd", "fd[\($0)]:\($1.key)"] })
    }

    /// Restores `image` detached, given the namespaces `given` names; the
    /// root, `pid`, must run afterwards.
    func restore(_ image: String, pid: pid_t, givingNamespaces given: [(key: String, path: String)]) throws {
        try waitUntilFree(pid)
        let giving = givingNamespaces(given)
        let restored = try crtool(opening: giving.opening, ["restore", "-D", image, "-d"] + giving.arguments)
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertTrue(ProcessTable.isAlive(pid), "\(restored)")
    }

    /// crtool as if installed without the restore stub: CRTOOL_STUB
    /// names /nonexistent/crtool-restore-stub.
    func crtoolWithoutStub(_ arguments: [String], timeout: Double = 30) throws -> CommandResult {
        try BuildProducts.requireExecutable(BuildProducts.crtool)
        return try runCommand("/usr/bin/env", ["CRTOOL_STUB=/nonexistent/crtool-restore-stub", BuildProducts.crtool] + arguments,
                              outputPrefix: scratch.newPath("crtool-\(arguments.first ?? "")"), timeout: timeout)
    }

    /// Dumps the fixture into a fresh image directory and returns it. Unless
    /// --leave-running is among the options, the dump kills the process; it
    /// is reaped here so its PID is free for the restore.
    func checkpoint(_ fixture: Fixture, options: [String] = [], timeout: Double = 60) throws -> String {
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(fixture.pid)", "-D", dir] + options, timeout: timeout)
        guard result.succeeded else {
            throw HarnessError("dump of \(fixture.name) failed: \(result)\n\(fixture.log.tail())")
        }
        if !options.contains("--leave-running") {
            guard try waitForExit(fixture.pid, timeout: 10) != nil else {
                throw HarnessError("\(fixture.name) (pid \(fixture.pid)) still runs 10 s after a dump without --leave-running")
            }
            try waitUntilFree(fixture.pid)
        }
        return dir
    }

    /// Restores an image detached. When crtool exits, the restored process
    /// is re-parented to this (subreaper) process and must be running.
    @discardableResult
    func restore(_ dir: String, as fixture: Fixture, options: [String] = [], timeout: Double = 60) throws -> CommandResult {
        try waitUntilFree(fixture.pid)
        let result = try crtool(["restore", "-D", dir, "-d"] + options, timeout: timeout)
        guard result.succeeded else {
            throw HarnessError("restore of \(fixture.name) failed: \(result)\n\(fixture.log.tail())\(fixture.stderrTail())")
        }
        guard ProcessTable.isAlive(fixture.pid) else {
            throw HarnessError("crtool restore succeeded but pid \(fixture.pid) is not running: \(result)\n\(fixture.log.tail())\(fixture.stderrTail())")
        }
        return result
    }

    /// Restores `fixture` and watches it carry on: `more` new "`prefix` <n>"
    /// lines, every number of them in sequence over the whole log, no FAIL.
    /// Returns the line the restored process's log starts at.
    @discardableResult
    func restoreAndWatch(_ image: String, as fixture: Fixture, counting prefix: String = "tick", more: Int = 5, options: [String] = [],
                         file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let mark = fixture.lineCount
        try restore(image, as: fixture, options: options)
        try fixture.waitForMore(prefix, more, after: mark)
        assertSequence(fixture, prefix, file: file, line: line)
        assertNoFailures(fixture, file: file, line: line)
        return mark
    }

    /// Dump, then restore: the fixture's log continues from `mark` on.
    @discardableResult
    func roundTrip(_ fixture: Fixture, options: [String] = [], timeout: Double = 60) throws -> (image: String, mark: Int) {
        let image = try checkpoint(fixture, options: options, timeout: timeout)
        let mark = fixture.lineCount
        try restore(image, as: fixture, timeout: timeout)
        return (image, mark)
    }
}
