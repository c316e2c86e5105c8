import Glibc
import XCTest

/// `crtool pre-dump` copies a running tree's pages and tracks what it
/// writes after; `dump --prev-images-dir` then reads only what was written
/// since, and the restore takes the rest from the pre-dumps.
final class PreDumpTests: EndToEndCase {
    /// Two pre-dumps and a dump on top of them: the dump stores only the
    /// pages written since the second, the restore puts the 256 MiB heap
    /// and the page written every tick back exactly, and the trackers'
    /// keepers are gone once the dump no longer needs them.
    func testDumpOnTopOfPreDumpsStoresOnlyWhatWasWritten() throws {
        let counter = try startFixture("counter", ["--heap-mib", "256"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let mapBefore = try memoryMap(counter.pid)

        let first = try scratch.newDirectory("pre1")
        let firstKeeper = try preDump(counter, into: first)
        XCTAssertGreaterThan(ImageFiles.pageBytes(in: first), 256 << 20, "the first pre-dump copies the whole heap")
        try counter.waitForMore("tick", 3, after: counter.lineCount)
        let second = try scratch.newDirectory("pre2")
        let secondKeeper = try preDump(counter, into: second, on: "../" + (first as NSString).lastPathComponent)
        XCTAssertLessThan(ImageFiles.pageBytes(in: second), 16 << 20, "the second pre-dump stores only what was written since the first")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(firstKeeper) }, "the second pre-dump took the tracking over from the first's keeper")
        XCTAssertTrue(ProcessTable.isAlive(secondKeeper))
        try counter.waitForMore("tick", 3, after: counter.lineCount)

        let image = try checkpoint(counter, options: ["--prev-images-dir", second])
        XCTAssertLessThan(ImageFiles.pageBytes(in: image), 4 << 20, "the dump stores only what was written since the second pre-dump")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(secondKeeper) }, "the dump ends the tracking")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.succeeded && shown.stdout.contains("pages taken from the images under it"), "\(shown)")

        let mark = counter.lineCount
        try restore(image, as: counter)
        XCTAssertEqual(try memoryMap(counter.pid), mapBefore, "the memory map differs")
        let last = try XCTUnwrap(counter.numbers("tick", before: mark).last)
        let next = try counter.waitFor("a tick after the restore", from: mark) { $0.hasPrefix("tick ") }
        XCTAssertEqual(next.line, "tick \(last + 1)", "the counter did not carry on")
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        try counter.waitFor("tick", atLeast: last + 5, from: mark)
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    /// Pages the program dropped after the pre-dump (MADV_DONTNEED), read
    /// back as zeros, or wrote again must not come back as the pre-dump
    /// had them.
    func testPagesChangedAfterThePreDumpAreNotTakenFromIt() throws {
        let program = try startPagesProgram()
        let pre = try scratch.newDirectory("pre")
        _ = try preDump(program, into: pre)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "changed")

        let image = try checkpoint(program, options: ["--prev-images-dir", pre])
        try restoreAndCheckPages(image, as: program)
    }

    /// With its tracker gone (its keeper killed) a pre-dump gives nothing:
    /// the dump says so, reads every page, and the image restores.
    func testAPreDumpWhoseTrackingEndedGivesNothing() throws {
        let counter = try startFixture("counter", ["--heap-mib", "64"])
        let checksum = try heapChecksum(counter)
        let pre = try scratch.newDirectory("pre")
        let keeper = try preDump(counter, into: pre)
        try killAndReap(keeper)

        let dir = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir, "--prev-images-dir", pre])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        XCTAssertTrue(dumped.stderr.contains("write tracking ended"), "the dump should say why it took nothing: \(dumped)")
        XCTAssertGreaterThan(ImageFiles.pageBytes(in: dir), 64 << 20, "every page read again")
        XCTAssertNotNil(try waitForExit(counter.pid, timeout: 10))
        let mark = counter.lineCount
        try restore(dir, as: counter)
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        assertNoFailures(counter)
    }

    /// A pre-dump is not restored by itself, and a dump whose pre-dump was
    /// damaged or moved away is refused before any process exists.
    func testRestoreRefusesAPreDumpAndAMissingOrDamagedParent() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let pre = try scratch.newDirectory("pre")
        _ = try preDump(counter, into: pre)
        let image = try checkpoint(counter, options: ["--prev-images-dir", pre])

        let refused = try crtool(["restore", "-D", pre, "-d"])
        XCTAssertFalse(refused.succeeded)
        XCTAssertTrue(refused.stderr.contains("field preDump") && refused.stderr.contains("restore the dump made on top of it"), "\(refused)")

        let moved = pre + ".moved"
        XCTAssertEqual(rename(pre, moved), 0)
        let missing = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(missing.succeeded)
        XCTAssertTrue(missing.stderr.contains("field parent") && missing.stderr.contains("is not there"), "\(missing)")
        XCTAssertEqual(rename(moved, pre), 0)

        let pages = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: pre).first { $0.hasPrefix("pages-") })
        try ImageFiles.flipBit(in: pre + "/" + pages, at: 5000)
        let damaged = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(damaged.succeeded)
        XCTAssertTrue(damaged.stderr.contains("\((pre as NSString).lastPathComponent)/\(pages)") && damaged.stderr.contains("crc32"), "\(damaged)")
        XCTAssertFalse(ProcessTable.isAlive(counter.pid), "a refused restore made the process")
        XCTAssertEqual(liveProcessesStartedHere(), [], "a refused restore left processes behind")
    }

    /// A job that ends by itself after a pre-dump, with no dump on top,
    /// takes the keeper of its tracking with it; while it runs, the
    /// keeper stays.
    func testTheKeeperEndsWhenTheTrackedProcessEnds() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 2)
        let keeper = try preDump(counter, into: try scratch.newDirectory("pre"))
        usleep(300_000)
        XCTAssertTrue(ProcessTable.isAlive(keeper), "the keeper holds the tracking while the process runs")
        try killAndReap(counter.pid)
        XCTAssertTrue(poll(timeout: 5) { !ProcessTable.isAlive(keeper) }, "crtool-keeper \(keeper) outlived the process it tracked")
    }

    // MARK: helpers

    /// Pre-dumps `fixture` into `dir` (on top of `parent` if given) and
    /// returns the pid of the crtool-keeper that holds its tracking.
    private func preDump(_ fixture: Fixture, into dir: String, on parent: String? = nil) throws -> pid_t {
        let result = try crtool(["pre-dump", "-t", "\(fixture.pid)", "-D", dir] + (parent.map { ["--prev-images-dir", $0] } ?? []))
        guard result.succeeded else { throw HarnessError("pre-dump of \(fixture.name) failed: \(result)") }
        XCTAssertTrue(ProcessTable.isAlive(fixture.pid), "a pre-dump leaves the process running")
        let said = try XCTUnwrap(result.stdout.range(of: "crtool-keeper pid "), "no keeper named: \(result)")
        let keeper = try XCTUnwrap(pid_t(String(result.stdout[said.upperBound...].prefix { $0.isNumber })), "\(result)")
        XCTAssertTrue(ProcessTable.isAlive(keeper), "crtool-keeper \(keeper) holds the tracking")
        return keeper
    }
}
