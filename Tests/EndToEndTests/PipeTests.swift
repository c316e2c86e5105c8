import Glibc
import XCTest

/// A pipe and a FIFO that are full when checkpointed: the records the
/// fixture reads after the restore continue with no gap and no repeat (the
/// fixture checks every one), so the buffered bytes came back exactly once
/// and in order; capacity and flags are checked by the fixture as well.
final class PipeTests: EndToEndCase {
    func testBufferedBytesOfAPipeArriveOnceAfterRestore() throws {
        let pipe = try startFixture("pipe")
        try assertCarriesOnAfterRoundTrip(pipe)
    }

    func testBufferedBytesOfAFIFOArriveOnceAfterRestore() throws {
        let pipe = try startFixture("pipe", ["--fifo", scratch.newPath("fifo")])
        try assertCarriesOnAfterRoundTrip(pipe)
    }

    /// A pipe in packet mode, full of packets: each comes back whole, so
    /// each read still takes one (the fixture checks every read's size).
    func testAFullPipeOfPacketsCarriesOnAfterRestore() throws {
        let pipe = try startFixture("pipe", ["--packet"])
        try assertCarriesOnAfterRoundTrip(pipe)
    }

    /// The writer is a child process: the two ends are in two processes of
    /// the image, made once and joined again on restore.
    func testBufferedBytesOfAPipeBetweenTwoProcessesArriveOnceAfterRestore() throws {
        let pipe = try startFixture("pipe", ["--fork"])
        let children = ProcessIdentity.tree(pipe.pid).map(\.pid).filter { $0 != pipe.pid }
        XCTAssertEqual(children.count, 1, "the writer child")
        try assertCarriesOnAfterRoundTrip(pipe, alsoFree: children)
        XCTAssertEqual(ProcessIdentity.tree(pipe.pid).map(\.pid).filter { $0 != pipe.pid }, children)
    }

    /// tee, not read: the process that keeps running loses nothing, and the
    /// image restores the pipe as it was at the dump.
    func testLeaveRunningLeavesThePipeContentInPlace() throws {
        let pipe = try startFixture("pipe")
        try pipe.waitFor("got", atLeast: 2560)
        let image = try checkpoint(pipe, options: ["--leave-running"])
        let mark = pipe.lineCount
        let last = try XCTUnwrap(pipe.numbers("got").last)
        try pipe.waitFor("got", atLeast: last + 6400, from: mark)
        assertRunningFree(pipe)
        assertNoFailures(pipe)
        XCTAssertGreaterThan(try savedPipeBytes(in: image, pid: pipe.pid), 64 * 1024)

        try killAndReap(pipe.pid)
        let restoredMark = pipe.lineCount
        try restore(image, as: pipe)
        let first = try pipe.waitFor("got", atLeast: 0, from: restoredMark)
        try pipe.waitFor("got", atLeast: first + 6400, from: restoredMark)
        assertNoFailures(pipe)
    }

    /// `alsoFree`: other processes of the tree, orphaned by the dump, whose
    /// PIDs must be free before the restore.
    private func assertCarriesOnAfterRoundTrip(
        _ pipe: Fixture, alsoFree others: [pid_t] = [], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try pipe.waitFor("got", atLeast: 2560)
        let image = try checkpoint(pipe)
        for pid in others {
            _ = try? waitForExit(pid, timeout: 5)
            try waitUntilFree(pid)
        }
        let mark = pipe.lineCount
        try restore(image, as: pipe)
        // 128 KiB of capacity, kept full by the writer.
        XCTAssertGreaterThan(try savedPipeBytes(in: image, pid: pipe.pid), 64 * 1024, file: file, line: line)
        let before = try XCTUnwrap(pipe.numbers("got", before: mark).last, file: file, line: line)
        try pipe.waitFor("got", atLeast: before + 6400, from: mark)
        let counts = pipe.numbers("got")
        XCTAssertEqual(counts, counts.sorted(), "the records read must only grow\n\(pipe.log.tail())", file: file, line: line)
        XCTAssertTrue(ProcessTable.isAlive(pipe.pid), file: file, line: line)
        assertNoFailures(pipe, file: file, line: line)
    }
}
