import Glibc
import XCTest

/// A pipe or FIFO whose other end is held by a process outside the image
/// cannot be restored faithfully: the dump stops naming the pid, the fd
/// and the outside holder, leaves no image, and the process runs on as if
/// nothing happened.
final class PipeRefusalTests: EndToEndCase {
    func testPipeWhoseWriterIsOutsideTheImageIsRefused() throws {
        var ends: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&ends), 0)
        let writer = ends[1]
        addTeardownBlock { close(writer) }
        let reader = try startFixture("reader", stdin: .descriptor(ends[0]))
        close(ends[0])
        try assertRefusedAndUntouched(reader, writer: writer, holderFD: writer, mentioning: "other end")
    }

    func testFIFOOpenedByAProcessOutsideTheImageIsRefused() throws {
        let path = scratch.newPath("fifo")
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        // Read-write first, so neither open waits for a partner.
        let writer = open(path, O_RDWR | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(writer, 0)
        addTeardownBlock { close(writer) }
        let readEnd = open(path, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(readEnd, 0)
        let reader = try startFixture("reader", stdin: .descriptor(readEnd))
        close(readEnd)
        try assertRefusedAndUntouched(reader, writer: writer, holderFD: writer, mentioning: "also held")
    }

    private func assertRefusedAndUntouched(
        _ reader: Fixture, writer: Int32, holderFD: Int32, mentioning relation: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try send("before the dump\n", to: writer)
        try reader.waitFor(line: "got before the dump")

        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(reader.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)", file: file, line: line)
        for text in ["pid \(reader.pid) fd 0", relation, "pid \(getpid())", "fd \(holderFD)", "outside the image"] {
            XCTAssertTrue(result.stderr.contains(text), "the message should say \"\(text)\": \(result)", file: file, line: line)
        }
        XCTAssertFalse(fileExists(dir + "/manifest.json"), "a refused dump left a manifest", file: file, line: line)

        assertRunningFree(reader, file: file, line: line)
        try send("after the dump\n", to: writer)
        try reader.waitFor(line: "got after the dump")
        XCTAssertEqual(reader.log.lines().filter { $0.hasPrefix("got ") }, ["got before the dump", "got after the dump"],
                       file: file, line: line)
        assertNoFailures(reader, file: file, line: line)
    }

    private func send(_ text: String, to fd: Int32) throws {
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw HarnessError("write to the pipe: \(errnoText())") }
    }
}
