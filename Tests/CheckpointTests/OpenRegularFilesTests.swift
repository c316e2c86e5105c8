@testable import Checkpoint
import Foundation
import Glibc
import XCTest

/// A restore refuses, before it creates anything, regular files that are
/// gone or lost bytes up to a descriptor's position since the dump;
/// growth, write-only appenders and images without recorded lengths pass.
/// A file written since the dump but no shorter is named in a warning.
final class OpenRegularFilesTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A file of `length` bytes in the scratch directory.
    private func file(_ name: String, length: Int) throws -> String {
        let path = directory + "/" + name
        try Data(repeating: 0x61, count: length).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func descriptor(_ path: String, fd: Int32 = 3, flags: Int32 = O_RDWR, position: Int64, size: Int64?,
                            openFile: Int = 1) -> FileDescriptorImage {
        var f = FileDescriptorImage(fd: fd, kind: .regular, path: path, flags: flags, closeOnExec: false, position: position)
        f.size = size
        f.openFile = openFile
        return f
    }

    /// The refusal's text, or nil when the check passes.
    private func refusal(_ processes: [ProcessImage]) -> String? {
        do {
            try OpenRegularFiles.requireIntact(processes)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func refusal(_ files: [FileDescriptorImage]) -> String? {
        refusal([ProcessImage.testing(pid: 100, files: files)])
    }

    func testAFileShorterThanThePositionIsRefusedAndNamed() throws {
        let path = try file("data", length: 100)
        let open = descriptor(path, position: 80, size: 100)
        XCTAssertNil(refusal([open]), "unchanged")
        XCTAssertEqual(truncate(path, 80), 0)
        XCTAssertNil(refusal([open]), "every byte up to the position is still there")
        XCTAssertEqual(truncate(path, 50), 0)
        let text = try XCTUnwrap(refusal([open]))
        XCTAssertTrue(text.hasPrefix("a file the image has open became shorter since the dump"), text)
        XCTAssertTrue(text.contains("\(path) (fd 3 of pid 100): now 50 bytes, 80 needed (the process is at byte 80 of the 100 it had at the dump)"), text)
    }

    func testGrowthPasses() throws {
        let path = try file("log", length: 4096)
        XCTAssertNil(refusal([descriptor(path, flags: O_RDONLY, position: 100, size: 200)]))
    }

    /// A position already past the end at the dump (after a seek) needs
    /// only the bytes the file had then.
    func testAPositionPastTheEndNeedsOnlyWhatTheFileHad() throws {
        let path = try file("sparse", length: 10)
        XCTAssertNil(refusal([descriptor(path, position: 8192, size: 10)]))
        XCTAssertEqual(truncate(path, 9), 0)
        let text = try XCTUnwrap(refusal([descriptor(path, position: 8192, size: 10)]))
        XCTAssertTrue(text.contains("now 9 bytes, 10 needed (the process is at byte 8192 of the 10 it had at the dump)"), text)
    }

    func testWriteOnlyAppendersAndDescriptorsWithNothingToCheckPass() throws {
        let path = try file("rotated.log", length: 0)
        XCTAssertNil(refusal([descriptor(path, flags: O_WRONLY | O_APPEND, position: 5000, size: 5000)]), "a log rotated in place")
        XCTAssertNotNil(refusal([descriptor(path, flags: O_RDWR | O_APPEND, position: 5000, size: 5000)]),
                        "a reader of an appended file reads from its position")
        XCTAssertNil(refusal([descriptor(path, position: 5000, size: nil)]), "an image made before lengths were recorded")
        XCTAssertNil(refusal([descriptor(path, position: 0, size: 5000)]), "at the start")
        XCTAssertNil(refusal([descriptor("/proc/self/stat", flags: O_RDONLY, position: 10, size: 0)]), "a /proc file")
        XCTAssertNil(refusal([descriptor("/proc/999999999/stat", flags: O_RDONLY, position: 10, size: 0)]),
                     "a /proc file of a process yet to be restored")
        var directoryDescriptor = descriptor(directory, position: 10, size: 4096)
        directoryDescriptor.kind = .directory
        XCTAssertNil(refusal([directoryDescriptor]))
    }

    func testAFileGoneOrNoLongerRegularIsRefusedAndNamed() throws {
        let gone = directory + "/gone"
        let text = try XCTUnwrap(refusal([descriptor(gone, position: 0, size: 10)]))
        XCTAssertTrue(text.hasPrefix("a file the image has open cannot be found as it was: \(gone) (fd 3 of pid 100): "
            + "No such file or directory (ENOENT). Put back the files as they were to restore it"), text)
        let replaced = directory + "/replaced"
        XCTAssertEqual(mkfifo(replaced, 0o600), 0)
        let fifo = try XCTUnwrap(refusal([descriptor(replaced, position: 0, size: 10)]))
        XCTAssertTrue(fifo.contains("\(replaced) (fd 3 of pid 100): no longer a regular file"), fifo)
        XCTAssertNil(refusal([descriptor(gone, position: 0, size: nil)]), "an image made before lengths were recorded")
    }

    /// Both kinds of problem in one refusal, each named.
    func testGoneAndShortenedFilesAreNamedTogether() throws {
        let short = try file("short", length: 1)
        let text = try XCTUnwrap(refusal([descriptor(directory + "/gone", position: 0, size: 10),
                                          descriptor(short, fd: 4, position: 64, size: 64, openFile: 2)]))
        XCTAssertTrue(text.contains("cannot be found as it was: \(directory)/gone (fd 3"), text)
        XCTAssertTrue(text.contains(". A file the image has open became shorter since the dump"), text)
        XCTAssertTrue(text.contains("\(short) (fd 4 of pid 100): now 1 bytes, 64 needed"), text)
        XCTAssertTrue(text.hasSuffix(". Put back the files as they were to restore it"), text)
    }

    /// One open file description shared by several processes is named
    /// once; two shortened files are both named.
    func testEachShortenedFileIsNamedOnce() throws {
        let a = try file("a", length: 1), b = try file("b", length: 1)
        let shared = descriptor(a, position: 64, size: 64, openFile: 7)
        let text = try XCTUnwrap(refusal([
            ProcessImage.testing(pid: 100, files: [shared, descriptor(b, fd: 4, position: 2, size: 2, openFile: 8)]),
            ProcessImage.testing(pid: 101, files: [shared]),
        ]))
        XCTAssertTrue(text.hasPrefix("2 files the image has open became shorter"), text)
        XCTAssertEqual(text.components(separatedBy: a + " (fd").count - 1, 1, text)
        XCTAssertTrue(text.contains(b + " (fd 4 of pid 100)"), text)
    }

    /// The modification time `path` has now, as a dump records it.
    private func modified(_ path: String) -> Int64 {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    /// Sets `path`'s modification time `seconds` away from what it is.
    private func shiftModified(_ path: String, by seconds: Int) {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        var times = [st.st_atim, st.st_mtim]
        times[1].tv_sec += seconds
        XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
    }

    /// A file written since the dump but no shorter passes the check and
    /// is named in a warning, once however many descriptors have it open,
    /// with both times and both lengths.
    func testAFileWrittenSinceTheDumpIsNamedInAWarning() throws {
        let path = try file("state", length: 100)
        var open = descriptor(path, position: 40, size: 100)
        open.modified = modified(path)
        var again = descriptor(path, fd: 5, flags: O_RDONLY, position: 0, size: 100, openFile: 2)
        again.modified = open.modified
        let processes = [ProcessImage.testing(pid: 100, files: [open, again])]
        XCTAssertEqual(OpenRegularFiles.writtenSinceDump(processes), [], "unchanged")

        shiftModified(path, by: 90)
        XCTAssertNil(refusal(processes), "a warning, not a refusal")
        let warnings = OpenRegularFiles.writtenSinceDump(processes)
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        let text = try XCTUnwrap(warnings.first)
        XCTAssertTrue(text.hasPrefix("\(path) (fd 3 of pid 100) was written since the dump (last modified "), text)
        let then = HostInfo.timestamp(Date(timeIntervalSince1970: Double(open.modified!) / 1e9), milliseconds: true)
        let now = HostInfo.timestamp(Date(timeIntervalSince1970: Double(open.modified!) / 1e9 + 90), milliseconds: true)
        XCTAssertTrue(text.contains("last modified \(now), at the dump \(then); 100 bytes, as at the dump): "
            + "the restored process goes on with it as it is now"), text)

        let longer = try file("longer", length: 300)
        var grown = descriptor(longer, position: 0, size: 200)
        grown.modified = modified(longer) - 1
        let grownText = try XCTUnwrap(OpenRegularFiles.writtenSinceDump([ProcessImage.testing(pid: 7, files: [grown])]).first)
        XCTAssertTrue(grownText.contains("; 300 bytes, 200 at the dump)"), grownText)
    }

    /// A write-only O_APPEND log is never read back by the process, and an
    /// image without recorded times has nothing to compare.
    func testAppendOnlyLogsAndImagesWithoutTimesGetNoWarning() throws {
        let log = try file("log", length: 10)
        var appender = descriptor(log, flags: O_WRONLY | O_APPEND, position: 10, size: 10)
        appender.modified = modified(log) - 5_000_000_000
        let old = descriptor(try file("old", length: 10), fd: 4, position: 0, size: 10, openFile: 2)
        XCTAssertEqual(OpenRegularFiles.writtenSinceDump([ProcessImage.testing(pid: 100, files: [appender, old])]), [])
        var reader = appender
        reader.flags = O_RDWR | O_APPEND
        XCTAssertEqual(OpenRegularFiles.writtenSinceDump([ProcessImage.testing(pid: 100, files: [reader])]).count, 1,
                       "a log the process also reads is named")
    }

    func testANegativeLengthIsRejectedWithItsField() {
        let p = ProcessImage.testing(pid: 100, files: [descriptor("/etc/hostname", position: 0, size: -1)])
        XCTAssertEqual(p.consistencyRefusal()?.field, "files[0].size")
        XCTAssertNil(ProcessImage.testing(pid: 100, files: [descriptor("/etc/hostname", position: 0, size: 0)]).consistencyRefusal())
    }
}
