import XCTest

/// The commands that only report: what a user reads before trusting a dump.
final class CommandTests: EndToEndCase {
    func testCheckReportsEveryFeatureOnItsOwnLine() throws {
        let result = try crtool(["check"], timeout: 30)
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertGreaterThanOrEqual(result.stdoutLines.count, 3, "\(result)")
        // Root on this kernel, as the tests run: the probes the TCP and
        // huge-page tests rely on must find what they look for.
        for feature in ["TCP repair mode", "raw IP sockets", "nft (", "MADV_COLLAPSE (", "crtool-restore-stub", "crtool-keeper", "crtool-guard"] {
            XCTAssertTrue(result.stdoutLines.contains { $0.hasPrefix("ok ") && $0.contains(feature) }, "\(feature): \(result)")
        }
    }

    /// A crtool installed without the stub every restore starts from
    /// cannot restore anything: check says so and fails.
    func testCheckFailsWithoutTheRestoreStub() throws {
        let result = try crtoolWithoutStub(["check"])
        XCTAssertEqual(result.status, .exited(1), "\(result)")
        XCTAssertTrue(result.stdout.contains("MISSING crtool-restore-stub (every restore): /nonexistent/crtool-restore-stub is missing"), "\(result)")
    }

    func testDumpSummaryAndShowDescribeTheImage() throws {
        let threads = try startFixture("threads")
        try threads.waitFor("counts", atLeast: 1)
        let tids = ProcessTable.threadIds(of: threads.pid)
        let dir = try scratch.newDirectory("image")

        let dump = try crtool(["dump", "-t", "\(threads.pid)", "-D", dir, "--compress", "zstd"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertEqual(dump.stdoutLines.count, 1, "a dump prints a one-line summary: \(dump)")

        let show = try crtool(["show", dir], timeout: 30)
        XCTAssertTrue(show.succeeded, "\(show)")
        let text = show.stdout.lowercased()
        for tid in tids {
            XCTAssertTrue(text.contains("\(tid)"), "show does not list thread \(tid): \(show)")
        }
        for word in ["vma", "page", "zstd"] {
            XCTAssertTrue(text.contains(word), "show does not mention \(word): \(show)")
        }
    }

    /// The dump's numbers are kept beside the image: `show` tells the frozen
    /// time the summary told, and each phase. A damaged statistics file is
    /// a warning naming its field; the image is shown, and restored, as
    /// before. A pre-dump keeps its own.
    func testShowTellsTheStatisticsTheDumpKept() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 1)
        let base = try scratch.newDirectory("pre")
        let pre = try crtool(["pre-dump", "-t", "\(counter.pid)", "-D", base])
        XCTAssertTrue(pre.succeeded, "\(pre)")
        XCTAssertTrue(try crtool(["show", base], timeout: 30).stdout.contains("  pre-dumped in "))

        let dir = try scratch.newDirectory("image")
        let dump = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir, "--prev-images-dir", base])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertNotNil(try waitForExit(counter.pid, timeout: 10), "killed by the dump")
        let frozen = try XCTUnwrap(dump.stdout.range(of: #"frozen [0-9.]+ ms"#, options: .regularExpression).map { String(dump.stdout[$0]) })
        let show = try crtool(["show", dir], timeout: 30)
        XCTAssertTrue(show.succeeded, "\(show)")
        let line = try XCTUnwrap(show.stdoutLines.first { $0.hasPrefix("  dumped in ") }, show.stdout)
        XCTAssertTrue(line.contains("the tree \(frozen) (phases: freeze "), "\(line) against the summary's \(frozen)")
        XCTAssertTrue(line.contains("taken from the parent image; the tree was killed"), line)

        let path = dir + "/stats-dump"
        let text = try XCTUnwrap(readTextFile(path))
        try writeWholeFile(path, Array(text.replacingOccurrences(of: #""frozenSeconds" : "#, with: #""frozenSeconds" : -"#).utf8))
        let damaged = try crtool(["show", dir], timeout: 30)
        XCTAssertTrue(damaged.succeeded, "\(damaged)")
        XCTAssertFalse(damaged.stdout.contains("  dumped in "), damaged.stdout)
        XCTAssertTrue(damaged.stderr.contains("image file stats-dump, field frozenSeconds: -"), damaged.stderr)
        let mark = counter.lineCount
        try restore(dir, as: counter)
        try counter.waitForMore("tick", 2, after: mark)
        assertNoFailures(counter)
    }

    /// A tree that runs on after the dump is let go once its pages are
    /// read, and they are compressed and written after; a tree the dump
    /// kills stays frozen until its image is whole. -v lists the phases
    /// in the order they ran.
    func testPagesOfATreeLeftRunningAreWrittenAfterItIsLetGo() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        try counter.waitFor("tick", atLeast: 2)
        let running = try crtool(["dump", "-t", "\(counter.pid)", "-D", try scratch.newDirectory("running"), "-R", "-v"])
        XCTAssertTrue(running.succeeded, "\(running)")
        XCTAssertEqual(try phases(running), ["freeze", "state", "page plan", "pages read", "shared memory", "release", "pages written", "image"])
        let killed = try crtool(["dump", "-t", "\(counter.pid)", "-D", try scratch.newDirectory("killed"), "-v"])
        XCTAssertTrue(killed.succeeded, "\(killed)")
        XCTAssertEqual(try phases(killed), ["freeze", "state", "page plan", "pages", "shared memory", "image", "release"])
    }

    private func phases(_ dump: CommandResult) throws -> [String] {
        let line = try XCTUnwrap(dump.stdoutLines.first { $0.hasPrefix("phases: ") }, "\(dump)")
        return line.dropFirst("phases: ".count).split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).components(separatedBy: " ").dropLast(2).joined(separator: " ")
        }
    }

    /// --pidfile, as in CRIU: the restored root's PID, for scripts.
    func testRestoreWritesThePidfile() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 2)
        let image = try checkpoint(counter)
        let pidfile = scratch.newPath("restored.pid")
        let result = try crtool(["restore", "-D", image, "-d", "--pidfile", pidfile])
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertEqual(readTextFile(pidfile), "\(counter.pid)\n")
        XCTAssertTrue(ProcessTable.isAlive(counter.pid))
        try killAndReap(counter.pid)
    }

    /// A size --ghost-limit cannot read is a usage error, before anything
    /// is touched.
    func testGhostLimitRejectsWhatIsNotASize() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 1)
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir, "--ghost-limit", "lots"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("--ghost-limit takes a size"), "\(result)")
        assertRunningFree(counter)
        try killAndReap(counter.pid)
    }

    /// CRIU's verbosity arguments, which scripts written for it pass: -v4
    /// (and --verbosity=4, -vvv) says what -v says, -v0 what -q does, -v2
    /// changes nothing, and show and check take them without a word.
    func testCRIUsVerbosityArgumentsAreUnderstood() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        let cases: [(argument: String, phases: Bool, summary: Bool)] = [
            ("-v4", true, true), ("--verbosity=4", true, true), ("-vvv", true, true), ("-v2", false, true), ("-v0", false, false),
        ]
        for c in cases {
            let dir = try scratch.newDirectory("image")
            let dump = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", dir, "--leave-running", c.argument])
            XCTAssertTrue(dump.succeeded, "\(dump)")
            XCTAssertEqual(dump.stdoutLines.contains { $0.hasPrefix("phases: ") }, c.phases, "\(c.argument): \(dump)")
            XCTAssertEqual(dump.stdoutLines.contains { $0.hasPrefix("dumped pid \(sleeper.pid)") }, c.summary, "\(c.argument): \(dump)")
        }
        let image = try checkpoint(sleeper, options: ["-v4", "-o", "dump.log"])
        XCTAssertTrue(readTextFile(image + "/dump.log")?.contains("phases: ") == true)
        let restored = try restore(image, as: sleeper, options: ["-v4"])
        XCTAssertTrue(restored.stderr.contains("phases: "), "\(restored)")
        for command in [["show", image, "-v4"], ["check", "-v4"]] {
            let result = try crtool(command)
            XCTAssertTrue(result.succeeded, "\(result)")
        }
        try sleeper.waitForMore("woke", 1, after: sleeper.lineCount)
        assertNoFailures(sleeper)
    }
    /// CRIU users pass --display-stats to read a run's numbers off by
    /// name, and its --ext-unix-sk and --link-remap out of habit. The
    /// numbers must agree with each other: every page read is stored or
    /// skipped as zero, and the restore writes back what the dump stored
    /// and what it took from the pre-dump under it.
    func testCRIUsDisplayStatsGivesTheNumbersOneToALine() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8", "--zero-half"])
        try counter.waitFor("tick", atLeast: 2)
        let checksum = try heapChecksum(counter)
        let preDumpDir = try scratch.newDirectory("pre")
        let preDump = try crtool(["pre-dump", "-t", "\(counter.pid)", "-D", preDumpDir, "--display-stats", "-q"])
        XCTAssertTrue(preDump.succeeded, "\(preDump)")
        XCTAssertEqual(preDump.stdoutLines.first, "pre-dump statistics:", "\(preDump)")
        XCTAssertGreaterThan(try statistic("VMAs tracked", in: preDump), 0, "\(preDump)")

        let image = try scratch.newDirectory("image")
        let dump = try crtool(["dump", "-t", "\(counter.pid)", "-D", image, "--prev-images-dir", preDumpDir,
                               "--display-stats", "-q", "--ext-unix-sk", "--link-remap"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        _ = try waitForExit(counter.pid, timeout: 10)
        XCTAssertEqual(dump.stdoutLines.first, "dump statistics:", "-q leaves the statistics alone: \(dump)")
        XCTAssertEqual(try statistic("processes", in: dump), 1)
        let stored = try statistic("pages stored", in: dump)
        let zero = try statistic("zero pages skipped", in: dump)
        let inherited = try statistic("pages taken from the parent image", in: dump)
        XCTAssertGreaterThanOrEqual(inherited, 1024, "the heap is unwritten since the pre-dump: \(dump)")
        XCTAssertGreaterThan(stored, 0, "\(dump)")
        XCTAssertEqual(try statistic("bytes read", in: dump), (stored + zero) * 4096, "\(dump)")
        XCTAssertTrue(dump.stdoutLines.contains { $0.hasPrefix("  phase pages: ") }, "\(dump)")

        let mark = counter.lineCount
        let restored = try restore(image, as: counter, options: ["--display-stats", "--ext-unix-sk"])
        XCTAssertTrue(restored.stdoutLines.contains("restore statistics:"), "\(restored)")
        XCTAssertEqual(try statistic("bytes written", in: restored), (stored + inherited) * 4096, "\(restored)")
        try counter.waitFor("tick", atLeast: 1, from: mark)
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    /// The number after "  NAME: " in a --display-stats block.
    private func statistic(_ name: String, in result: CommandResult) throws -> UInt64 {
        let line = try XCTUnwrap(result.stdoutLines.first { $0.hasPrefix("  \(name): ") }, "no \(name) in \(result)")
        let value = line.dropFirst(name.count + 4).prefix { $0.isNumber }
        return try XCTUnwrap(UInt64(value), "\(line)")
    }
}
