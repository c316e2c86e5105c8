@testable import Checkpoint
import Foundation
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

    /// A pipe in packet mode is copied packet by packet, a long write cut
    /// into pages as the kernel cut it, and keeps every packet.
    func testPacketsAreCopiedOneByOneWithoutConsuming() throws {
        let pipe = try PipeOps.create(flags: O_CLOEXEC | O_NONBLOCK | PipeState.packetModeFlag)
        defer {
            close(pipe.read)
            close(pipe.write)
        }
        let sent = [[UInt8](repeating: 1, count: 10), [UInt8](repeating: 2, count: 5000), [3]]
        for packet in sent { try PipeOps.writeAll(pipe.write, packet) }
        let copy = try PipeContent.packets(pipe.read, capacity: try PipeOps.capacity(pipe.read), pid: getpid(), targetFD: pipe.read)
        XCTAssertEqual(copy.map(\.count), [10, 4096, 904, 1])
        XCTAssertEqual(Array(copy.joined()), Array(sent.joined()))
        XCTAssertEqual(try PipeOps.readEach(pipe.read, limit: 65536).map(\.count), [10, 4096, 904, 1], "the pipe keeps its packets")
    }

    /// Packets read from an image must describe its bytes and fit its pipe.
    func testHostilePacketsAreNamedByField() {
        var state = PipeState(capacity: 8192, data: Data(count: 20))
        state.packets = [10, 10]
        XCTAssertNil(state.invalidPacketsField)
        state.packets = [10, 0, 10]
        XCTAssertEqual(state.invalidPacketsField?.field, "packets[1]")
        state.packets = [5000]
        XCTAssertEqual(state.invalidPacketsField?.field, "packets[0]")
        state.packets = [10, 9]
        XCTAssertEqual(state.invalidPacketsField?.field, "packets")
        state.packets = [5, 5, 5, 5]
        XCTAssertEqual(state.invalidPacketsField?.reason, "4 packets in a pipe of 8192 bytes, which holds at most 2")
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
