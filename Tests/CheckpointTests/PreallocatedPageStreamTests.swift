@testable import Checkpoint
import Codecs
import Foundation
import Ptrace
import XCTest

/// A page stream allocates its files' blocks ahead of its writes and is
/// cut back to what it holds when finished: the image lists, stores and
/// reads back exactly what was written, with no block past its end.
final class PreallocatedPageStreamTests: XCTestCase {
    private var root = ""

    override func setUp() {
        root = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    private struct FileState {
        var size: UInt64
        var allocated: UInt64
    }

    private func state(_ path: String) throws -> FileState {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SystemError("stat \(path)") }
        return FileState(size: UInt64(info.st_size), allocated: UInt64(info.st_blocks) * 512)
    }

    private func chunks(_ count: Int, pages: Int) -> [PageChunk] {
        (0..<count).map { index in
            var chunk = PageStreamTests.makeChunk(index: index, pages: pages, kind: 0)
            chunk.pid = 7
            return chunk
        }
    }

    private func storedSize(_ chunks: [PageChunk]) throws -> UInt64 {
        try chunks.reduce(0) { $0 + UInt64(try EncodedPageChunk($1, codec: Codec(kind: .none), file: "").size) }
    }

    /// Writes `chunks` to a stream of `parts` parts in `directory`, hands
    /// the parts' states to `whileWriting` before finishing, commits, and
    /// checks every part and chunk read back.
    private func writeAndReadBack(_ chunks: [PageChunk], parts: Int, in directory: String,
                                  whileWriting: ([FileState]) throws -> Void) throws {
        let names = ["pages-7.img"] + (1..<parts).map { ImageDirectory.partName("pages-7.img", $0) }
        let image = try ImageDirectory.create(at: directory)
        let writer = try image.pageWriter(name: names[0], codec: Codec(kind: .none), parts: parts)
        for chunk in chunks { try writer.append(chunk) }
        try whileWriting(try names.map { try state(directory + "/" + $0) })
        try image.commit(Manifest())

        let opened = try ImageDirectory.open(at: directory)
        for name in names {
            let listed = try XCTUnwrap(opened.manifest.files[name])
            let after = try state(directory + "/" + name)
            XCTAssertEqual(after.size, listed.size, "\(name) is as long as its listed size")
            XCTAssertLessThanOrEqual(after.allocated, (after.size + 4095) / 4096 * 4096 + (64 << 10),
                                     "\(name) keeps no blocks past its end")
        }
        let reader = try opened.pageReader(name: names[0])
        try reader.verifyChunkChecksums()
        let readBack = try reader.chunkLocations().map { try reader.readChunk($0) }
        let key = { (c: PageChunk) in c.ranges[0].address }
        XCTAssertEqual(readBack.sorted { key($0) < key($1) }, chunks.sorted { key($0) < key($1) })
    }

    private func requireFallocate() throws {
        let probe = root + "/fallocate-probe"
        let fd = try LocalFile.open(probe, flags: O_RDWR | O_CREAT)
        defer { close(fd); unlink(probe) }
        do { try LocalFile.allocate(fd, bytes: 4096) } catch let error as SystemError where error.errno == EOPNOTSUPP {
            throw XCTSkip("the file system of \(root) has no fallocate")
        }
    }

    /// A small stream allocates 1 MiB ahead of its first write, which
    /// covers the rest; what it holds is cut back.
    func testBlocksAreAllocatedAheadAndCutBackToWhatWasWritten() throws {
        try requireFallocate()
        let written = chunks(16, pages: 4)
        let bytes = try storedSize(written)
        try writeAndReadBack(written, parts: 1, in: root + "/image") { parts in
            XCTAssertGreaterThan(parts[0].size, bytes, "allocated past the data")
            XCTAssertLessThanOrEqual(parts[0].size, bytes + (1 << 20), "by at most 1 MiB")
            XCTAssertGreaterThanOrEqual(parts[0].allocated, parts[0].size, "with its blocks")
        }
    }

    /// A part that grows allocates as far ahead again as it is long, at
    /// most 64 MiB: never more than twice its data and 1 MiB.
    func testALargeStreamAllocatesInProportion() throws {
        try requireFallocate()
        let written = chunks(8, pages: 512)
        let bytes = try storedSize(written)
        try writeAndReadBack(written, parts: 2, in: root + "/image") { parts in
            let total = parts.reduce(0) { $0 + $1.size }
            XCTAssertGreaterThan(total, bytes, "allocated past the data")
            XCTAssertLessThanOrEqual(total, 2 * bytes + 2 * (1 << 20))
        }
    }

    /// A 3 MiB file system: allocating 1 MiB ahead of 2.5 MiB of data
    /// fails, and the stream goes on without, to exactly its data.
    func testAStreamThatCannotAllocateIsWrittenPlainly() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root") }
        let disk = root + "/small"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: false)
        guard mount("tmpfs", disk, "tmpfs", 0, "size=3m") == 0 else {
            return XCTFail("mounting a 3 MiB tmpfs at \(disk) failed: errno \(errno)")
        }
        defer { umount(disk) }
        let written = chunks(5, pages: 128)
        let bytes = try storedSize(written)
        XCTAssertGreaterThan(bytes + (1 << 20), 3 << 20, "the allocation cannot fit")
        try writeAndReadBack(written, parts: 1, in: disk + "/image") { parts in
            XCTAssertEqual(parts[0].size, bytes, "nothing allocated past the data")
        }
    }
}
