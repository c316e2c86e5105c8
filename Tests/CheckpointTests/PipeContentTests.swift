@testable import Checkpoint
import Glibc
import Ptrace
import XCTest

/// Copying what a pipe holds must leave the pipe exactly as it was: the
/// process being dumped may keep running and read the same bytes.
final class PipeContentTests: XCTestCase {
    func testSnapshotCopiesWithoutConsuming() throws {
        let pipe = try PipeOps.create(flags: O_CLOEXEC | O_NONBLOCK)
        defer {
            close(pipe.read)
            close(pipe.write)
        }
        // Many small writes over several pages, like a real writer.
        var sent: [UInt8] = []
        for n in 0..<3000 {
            let record = Array("record \(n)\n".utf8)
            try PipeOps.writeAll(pipe.write, record)
            sent += record
        }
        let capacity = try PipeOps.capacity(pipe.read)
        let copy = try PipeContent.snapshot(pipe.read, capacity: capacity, pid: getpid(), targetFD: pipe.read)
        XCTAssertEqual(copy, sent)
        XCTAssertEqual(try PipeOps.queuedBytes(pipe.read), sent.count)
        XCTAssertEqual(try PipeOps.readAvailable(pipe.read, limit: sent.count + 1), sent)
    }

    func testEmptyPipeGivesNoBytes() throws {
        let pipe = try PipeOps.create(flags: O_CLOEXEC | O_NONBLOCK)
        defer {
            close(pipe.read)
            close(pipe.write)
        }
        XCTAssertEqual(try PipeContent.snapshot(pipe.read, capacity: 65536, pid: getpid(), targetFD: pipe.read), [])
    }

    /// A full pipe of 1 MiB (fs.pipe-max-size here) is copied in one tee.
    func testFullLargePipe() throws {
        let pipe = try PipeOps.create(flags: O_CLOEXEC | O_NONBLOCK)
        defer {
            close(pipe.read)
            close(pipe.write)
        }
        try PipeOps.setCapacity(pipe.write, 1 << 20)
        let capacity = try PipeOps.capacity(pipe.write)
        let sent = (0..<capacity).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try PipeOps.writeAll(pipe.write, sent)
        let copy = try PipeContent.snapshot(pipe.read, capacity: capacity, pid: getpid(), targetFD: pipe.read)
        XCTAssertEqual(copy.count, capacity)
        XCTAssertEqual(copy, sent)
        XCTAssertEqual(try PipeOps.queuedBytes(pipe.read), capacity)
    }
}
