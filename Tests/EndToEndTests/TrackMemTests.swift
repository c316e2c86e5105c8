import Glibc
import XCTest

/// `crtool dump --leave-running --track-mem` makes a whole image of a tree
/// that runs on and tracks its writes from then on, so that each later
/// dump made on it (--prev-images-dir) stores only what was written since:
/// periodic checkpoints of a long job, each one restorable.
final class TrackMemTests: EndToEndCase {
    /// Three checkpoints of a counter with a 128 MiB heap, each on the one
    /// before: the second and third store only the pages written since,
    /// the tracking passes from keeper to keeper, and both the last and
    /// the middle checkpoint restore the heap exactly with the counter of
    /// their own moment.
    func testEachCheckpointOnTheLastStoresOnlyWhatWasWritten() throws {
        let counter = try startFixture("counter", ["--heap-mib", "128"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)

        let (first, firstKeeper, _) = try trackedDump(counter)
        XCTAssertGreaterThan(ImageFiles.pageBytes(in: first), 128 << 20, "the first checkpoint stores the whole heap")
        try counter.waitForMore("tick", 3, after: counter.lineCount)
        let (second, secondKeeper, secondTicks) = try trackedDump(counter, on: "../" + (first as NSString).lastPathComponent)
        XCTAssertLessThan(ImageFiles.pageBytes(in: second), 16 << 20, "the second checkpoint stores only what was written since the first")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(firstKeeper) }, "the second checkpoint took the tracking over from the first's keeper")
        XCTAssertTrue(ProcessTable.isAlive(secondKeeper))
        try counter.waitForMore("tick", 3, after: counter.lineCount)

        let last = try checkpoint(counter, options: ["--prev-images-dir", second])
        XCTAssertLessThan(ImageFiles.pageBytes(in: last), 4 << 20, "the last checkpoint stores only what was written since the second")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(secondKeeper) }, "a dump without --track-mem ends the tracking")

        var mark = counter.lineCount
        try restore(last, as: counter)
        let lastTick = try XCTUnwrap(counter.numbers("tick", before: mark).last)
        var next = try counter.waitFor("a tick after restoring the last checkpoint", from: mark) { $0.hasPrefix("tick ") }
        XCTAssertEqual(next.line, "tick \(lastTick + 1)", "the counter did not carry on from the last checkpoint")
        try checkHeap(counter, is: checksum, from: mark)
        try killAndReap(counter.pid)

        mark = counter.lineCount
        try restore(second, as: counter)
        next = try counter.waitFor("a tick after restoring the second checkpoint", from: mark) { $0.hasPrefix("tick ") }
        let tick = try XCTUnwrap(Int(next.line.dropFirst("tick ".count)), next.line)
        XCTAssertTrue(secondTicks.contains(tick - 1),
                      "the second checkpoint came back with the counter at \(tick - 1), but it was made while the counter went through \(secondTicks)")
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    /// Pages changed between two checkpoints (dropped, read back as zeros,
    /// written) come back as each checkpoint had them; the keeper that
    /// tracked the dumped program ends with it.
    func testEachCheckpointRestoresItsOwnPages() throws {
        let program = try startPagesProgram()
        let (first, _, _) = try trackedDump(program)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "changed")
        let (second, keeper, _) = try trackedDump(program, on: first)
        XCTAssertTrue(ProcessTable.isAlive(keeper))
        try killAndReap(program.pid)
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(keeper) }, "the keeper outlived the program it tracked")

        let mark = program.lineCount
        try waitUntilFree(program.pid)
        let restored = try crtool(["restore", "-D", second, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        try checkPages(program, from: mark)
        try killAndReap(program.pid)
        try restoreAndCheckPages(first, as: program)
    }

    /// --full on the newest checkpoint starts the series again: it stores
    /// every page, names no parent, takes the tracking over; the images
    /// under it can be deleted, and the next checkpoint on it is small
    /// and restores.
    func testAFullCheckpointStartsTheSeriesAgain() throws {
        let counter = try startFixture("counter", ["--heap-mib", "32"])
        let checksum = try heapChecksum(counter)
        let (first, _, _) = try trackedDump(counter)
        let (second, secondKeeper, _) = try trackedDump(counter, on: first)
        let (base, _, _) = try trackedDump(counter, on: second, options: ["--full"])
        XCTAssertGreaterThan(ImageFiles.pageBytes(in: base), 32 << 20, "--full stores every page")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(secondKeeper) }, "--full took the tracking over from the newest image")
        let manifest = try String(contentsOfFile: base + "/manifest.json", encoding: .utf8)
        XCTAssertFalse(manifest.contains("\"parent\""), "an image with every page names no parent: \(manifest)")
        try FileManager.default.removeItem(atPath: first)
        try FileManager.default.removeItem(atPath: second)
        try counter.waitForMore("tick", 2, after: counter.lineCount)

        let last = try checkpoint(counter, options: ["--prev-images-dir", base])
        XCTAssertLessThan(ImageFiles.pageBytes(in: last), 4 << 20, "the checkpoint on the new base stores only what was written since")
        try restoreAndCheckHeap(last, of: counter, is: checksum)
    }

    /// A dump with --track-mem not made on the image that tracks the tree
    /// already cannot track the same memory: it says so, the next dump on
    /// it reads that memory whole, and the other image's tracking is left
    /// as it was.
    func testMemoryAnotherImageTracksIsNamedAndReadWhole() throws {
        let counter = try startFixture("counter", ["--heap-mib", "32"])
        let checksum = try heapChecksum(counter)
        let (_, firstKeeper, _) = try trackedDump(counter)

        let second = try scratch.newDirectory("second")
        let dumped = try crtool(["dump", "-t", "\(counter.pid)", "-D", second, "--leave-running", "--track-mem"])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        XCTAssertTrue(dumped.stderr.contains("tracked already for another image"), "the dump should say what it cannot track: \(dumped)")
        try counter.waitForMore("tick", 2, after: counter.lineCount)
        XCTAssertTrue(ProcessTable.isAlive(firstKeeper), "the first image's tracking was left alone")

        let last = try checkpoint(counter, options: ["--prev-images-dir", second])
        XCTAssertGreaterThan(ImageFiles.pageBytes(in: last), 32 << 20, "memory the second image could not track is read whole")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(firstKeeper) }, "the first image's keeper ends with the process it tracked")
        try restoreAndCheckHeap(last, of: counter, is: checksum)
    }

    /// --track-mem without --leave-running, and a parent image that did not
    /// track the tree's writes, are refused with nothing touched.
    func testTrackingNeedsATreeLeftRunningAndATrackedParent() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        let refusedDir = scratch.newPath("refused")
        let killing = try crtool(["dump", "-t", "\(counter.pid)", "-D", refusedDir, "--track-mem"])
        XCTAssertFalse(killing.succeeded)
        XCTAssertTrue(killing.stderr.contains("--leave-running"), "\(killing)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: refusedDir), "a refused dump made its image directory")

        let plain = try checkpoint(counter, options: ["--leave-running"])
        let onPlain = try crtool(["dump", "-t", "\(counter.pid)", "-D", refusedDir, "--leave-running", "--prev-images-dir", plain])
        XCTAssertFalse(onPlain.succeeded)
        XCTAssertTrue(onPlain.stderr.contains("field tracksWrites") && onPlain.stderr.contains("--track-mem"), "\(onPlain)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: refusedDir), "a refused dump left its image directory")

        let mark = counter.lineCount
        try counter.waitForMore("tick", 3, after: mark)
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    // MARK: helpers

    /// Dumps `fixture` with --leave-running --track-mem (on `parent` if
    /// given, with `options`) and returns the image, the crtool-keeper that holds the
    /// tracking, and the counter values ticked while the dump ran.
    /// Restores `image` as `counter` (its process gone since), whose heap
    /// must check as `checksum`, with no failure reported.
    private func restoreAndCheckHeap(_ image: String, of counter: Fixture, is checksum: String) throws {
        let mark = counter.lineCount
        try restore(image, as: counter)
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    private func trackedDump(_ fixture: Fixture, on parent: String? = nil, options: [String] = []) throws -> (image: String, keeper: pid_t, ticks: ClosedRange<Int>) {
        let dir = try scratch.newDirectory("checkpoint")
        let before = fixture.numbers("tick").last ?? 0
        let result = try crtool(["dump", "-t", "\(fixture.pid)", "-D", dir, "--leave-running", "--track-mem"]
                                + (parent.map { ["--prev-images-dir", $0] } ?? []) + options)
        let after = fixture.numbers("tick").last ?? 0
        guard result.succeeded else { throw HarnessError("dump --track-mem of \(fixture.name) failed: \(result)") }
        XCTAssertTrue(ProcessTable.isAlive(fixture.pid), "a dump with --leave-running leaves the process running")
        let said = try XCTUnwrap(result.stdout.range(of: "crtool-keeper pid "), "no keeper named: \(result)")
        let keeper = try XCTUnwrap(pid_t(String(result.stdout[said.upperBound...].prefix { $0.isNumber })), "\(result)")
        XCTAssertTrue(ProcessTable.isAlive(keeper), "crtool-keeper \(keeper) holds the tracking")
        let shown = try crtool(["show", dir])
        XCTAssertTrue(shown.succeeded && shown.stdout.contains("writes since tracked by crtool-keeper pid \(keeper)"), "\(shown)")
        return (dir, keeper, before...after)
    }
}
