import Glibc
import XCTest

/// Two open files keep their positions and flags: after the restore the
/// records in both go on with no gap, overlap or repeat.
final class FilesTests: EndToEndCase {
    private let record = 16
    private let header = 4096

    func testRecordsStayContiguousAcrossRestore() throws {
        let dataDir = try scratch.newDirectory("data")
        let files = try startFixture("files", [dataDir])
        try files.waitFor("wrote", atLeast: 20)

        let (_, mark) = try roundTrip(files)
        let last = try XCTUnwrap(files.numbers("wrote", before: mark).last)
        let next = try files.waitFor("a record after restore", from: mark) { $0.hasPrefix("wrote ") }
        XCTAssertEqual(next.line, "wrote \(last + 1)")
        let reached = try files.waitFor("wrote", atLeast: last + 30, from: mark)
        try killAndReap(files.pid)
        assertSequence(files, "wrote", startingAt: 0)
        assertNoFailures(files)

        let appended = try records(in: dataDir + "/append.log", after: 0)
        let positioned = try records(in: dataDir + "/offset.dat", after: header)
        XCTAssertGreaterThan(appended, reached, "append.log")
        XCTAssertGreaterThan(positioned, reached, "offset.dat")
        // Killed between its two writes, the fixture leaves one file a record ahead.
        XCTAssertLessThanOrEqual(abs(appended - positioned), 1)
        XCTAssertEqual(readWholeFile(dataDir + "/offset.dat").map { Array($0.prefix(header)) }, expectedHeader())
    }

    /// offset.dat cut back to its header while the process was away: the
    /// restore names it and creates nothing. append.log (written through
    /// O_APPEND, read back with pread) shrunk too is named beside it, and
    /// then as gone once moved away. Put back as they were, both go on with
    /// no gap.
    func testAFileCutShorterOrGoneIsRefusedUntilItIsPutBack() throws {
        let dataDir = try scratch.newDirectory("data")
        let files = try startFixture("files", [dataDir])
        try files.waitFor("wrote", atLeast: 5)
        let image = try checkpoint(files)
        let offsetFile = dataDir + "/offset.dat", appendFile = dataDir + "/append.log"
        let offsetBytes = try XCTUnwrap(readWholeFile(offsetFile)), appendBytes = try XCTUnwrap(readWholeFile(appendFile))
        // What the restore checks against, as `show` tells it.
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("/offset.dat pos \(offsetBytes.count) of \(offsetBytes.count) bytes\n"), shown)
        XCTAssertTrue(shown.contains("/append.log pos \(appendBytes.count) of \(appendBytes.count) bytes\n"), shown)

        try writeWholeFile(offsetFile, Array(offsetBytes.prefix(header)))
        try writeWholeFile(appendFile, Array(appendBytes.dropLast(record)))
        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "restored over a shortened file: \(result)")
        XCTAssertTrue(result.stderr.contains("2 files the image has open became shorter since the dump"), result.stderr)
        XCTAssertTrue(result.stderr.contains("/offset.dat (fd "), result.stderr)
        XCTAssertTrue(result.stderr.contains("of pid \(files.pid)): now \(header) bytes, \(offsetBytes.count) needed (the process is at byte \(offsetBytes.count) "
            + "of the \(offsetBytes.count) it had at the dump)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("/append.log (fd "), result.stderr)
        XCTAssertTrue(ProcessTable.isFree(files.pid), "a refused restore made pid \(files.pid)")

        // Moved away: named as gone, and still nothing made.
        XCTAssertEqual(rename(appendFile, appendFile + ".moved"), 0)
        let moved = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(moved.succeeded, "restored without append.log: \(moved)")
        XCTAssertTrue(moved.stderr.contains("a file the image has open cannot be found as it was: "), moved.stderr)
        XCTAssertTrue(moved.stderr.contains("/append.log (fd "), moved.stderr)
        XCTAssertTrue(moved.stderr.contains("No such file or directory (ENOENT)"), moved.stderr)
        XCTAssertTrue(ProcessTable.isFree(files.pid), "a refused restore made pid \(files.pid)")

        // Longer than at the dump is fine: the process goes on from its position.
        try writeWholeFile(offsetFile, offsetBytes)
        try writeWholeFile(appendFile, appendBytes)
        let mark = files.lineCount
        let last = try XCTUnwrap(files.numbers("wrote", before: mark).last)
        try restore(image, as: files)
        let next = try files.waitFor("a record after restore", from: mark) { $0.hasPrefix("wrote ") }
        XCTAssertEqual(next.line, "wrote \(last + 1)")
        try files.waitFor("wrote", atLeast: last + 5, from: mark)
        try killAndReap(files.pid)
        assertNoFailures(files)
    }

    /// offset.dat written again with the same bytes while the process was
    /// away: nothing is missing, so the restore goes ahead, but it warns
    /// that the file was written since the dump. append.log, untouched, is
    /// not named, and the records go on with no gap.
    func testAFileWrittenSinceTheDumpIsNamedAndTheRestoreGoesOn() throws {
        let dataDir = try scratch.newDirectory("data")
        let files = try startFixture("files", [dataDir])
        try files.waitFor("wrote", atLeast: 5)
        let image = try checkpoint(files)
        let offsetBytes = try XCTUnwrap(readWholeFile(dataDir + "/offset.dat"))
        try writeWholeFile(dataDir + "/offset.dat", offsetBytes)

        let mark = files.lineCount
        let last = try XCTUnwrap(files.numbers("wrote", before: mark).last)
        let result = try restore(image, as: files)
        XCTAssertTrue(result.stderr.contains("/offset.dat (fd "), result.stderr)
        XCTAssertTrue(result.stderr.contains("of pid \(files.pid)) was written since the dump (last modified "), result.stderr)
        XCTAssertTrue(result.stderr.contains("; \(offsetBytes.count) bytes, as at the dump): the restored process goes on with it as it is now"),
                      result.stderr)
        XCTAssertEqual(result.stderr.components(separatedBy: "warning:").count, 2, "one warning: \(result.stderr)")
        XCTAssertFalse(result.stderr.contains("/append.log"), result.stderr)
        let next = try files.waitFor("a record after restore", from: mark) { $0.hasPrefix("wrote ") }
        XCTAssertEqual(next.line, "wrote \(last + 1)")
        try killAndReap(files.pid)
        assertNoFailures(files)
    }

    /// Checks that the file holds records 0, 1, 2, … back to back from
    /// `start` and returns how many.
    private func records(in path: String, after start: Int) throws -> Int {
        let bytes = try XCTUnwrap(readWholeFile(path), path)
        let body = bytes.dropFirst(start)
        XCTAssertEqual(body.count % record, 0, "\(path) ends with a partial record")
        let count = body.count / record
        for n in 0..<count {
            let offset = start + n * record
            let got = String(decoding: bytes[offset..<offset + record], as: UTF8.self)
            let want = String(repeating: "0", count: 15 - String(n).count) + String(n) + "\n"
            if got != want {
                XCTFail("\(path): record \(n) at offset \(offset) is \(got.debugDescription)")
                break
            }
        }
        return count
    }

    private func expectedHeader() -> [UInt8] {
        var bytes = (0..<header).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        bytes[header - 1] = UInt8(ascii: "\n")
        return bytes
    }
}
