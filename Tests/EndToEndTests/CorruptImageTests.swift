import Glibc
import XCTest

/// A damaged image is refused with a message naming the damaged file, and
/// no process comes out of it. The last test restores an undamaged image
/// made the same way, so the refusals are owed to the damage alone.
final class CorruptImageTests: EndToEndCase {
    func testFlippedByteInManifest() throws {
        let (counter, files) = try makeImage()
        try ImageFiles.flipBit(in: files.manifest, at: ImageFiles.middleStructuralByte(of: files.manifest))
        try assertRestoreRefused(files, pid: counter.pid, naming: "manifest.json")
    }

    func testFlippedDigitInProcessFile() throws {
        let (counter, files) = try makeImage()
        let process = try files.processFile()
        try ImageFiles.flipBit(in: process, at: ImageFiles.middleDigit(of: process))
        try assertRestoreRefused(files, pid: counter.pid, naming: baseName(process))
    }

    func testFlippedByteInPageFile() throws {
        let (counter, files) = try makeImage()
        let pages = try files.pageFile()
        try ImageFiles.flipBit(in: pages, at: try XCTUnwrap(fileSize(pages)) / 2)
        try assertRestoreRefused(files, pid: counter.pid, naming: baseName(pages))
    }

    func testTruncatedPageFile() throws {
        let (counter, files) = try makeImage()
        let pages = try files.pageFile()
        try ImageFiles.truncate(pages, to: try XCTUnwrap(fileSize(pages)) / 2 + 3)
        try assertRestoreRefused(files, pid: counter.pid, naming: baseName(pages))
    }

    func testUnknownFormatVersion() throws {
        let (counter, files) = try makeImage()
        try ImageFiles.setFormatVersion(in: files.manifest, to: 99)
        let result = try assertRestoreRefused(files, pid: counter.pid, naming: "manifest.json")
        XCTAssertTrue(result.stderr.contains("99"), "the message should give the version: \(result)")
    }

    func testUndamagedImageRestores() throws {
        let (counter, files) = try makeImage()
        let checksum = try heapChecksum(counter)
        let mark = counter.lineCount
        try restore(files.directory, as: counter)
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        assertNoFailures(counter)
    }

    // MARK: -

    /// A small counter, dumped (and so killed and reaped): its PID is free.
    private func makeImage() throws -> (Fixture, ImageFiles) {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 2)
        let dir = try checkpoint(counter)
        return (counter, ImageFiles(directory: dir, pid: counter.pid))
    }

    @discardableResult
    private func assertRestoreRefused(
        _ files: ImageFiles, pid: pid_t, naming name: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> CommandResult {
        let result = try crtool(["restore", "-D", files.directory, "-d"])
        XCTAssertFalse(result.succeeded, "restore of a damaged image succeeded: \(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(name), "the message should name \(name): \(result)",
                      file: file, line: line)
        XCTAssertFalse(ProcessTable.isAlive(pid), "pid \(pid) runs after a refused restore", file: file, line: line)
        XCTAssertEqual(liveProcessesStartedHere(), [], "the refused restore left processes behind",
                       file: file, line: line)
        return result
    }

    private func baseName(_ path: String) -> String {
        String(path.split(separator: "/").last ?? "")
    }
}
