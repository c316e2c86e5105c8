@testable import Checkpoint
import Codecs
import Foundation
import Ptrace
import XCTest

/// A page stream told how much to expect allocates each part's share
/// before writing and is cut back to what it holds when finished: the
/// image lists, stores and reads back exactly what was written.
final class PreallocatedPageStreamTests: XCTestCase {
    private var root = ""

    override func setUp() {
        root = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    private struct FileState: Equatable {
        var size: UInt64
        var allocated: UInt64
    }

    private func state(_ name: String) throws -> FileState {
        var info = stat()
        guard stat(root + "/" + name, &info) == 0 else { throw SystemError("stat \(name)") }
        return FileState(size: UInt64(info.st_size), allocated: UInt64(info.st_blocks) * 512)
    }

    private func chunks(_ count: Int, pages: Int) -> [PageChunk] {
        (0..<count).map { index in
            var chunk = PageStreamTests.makeChunk(index: index, pages: pages, kind: 0)
            chunk.pid = 7
            return chunk
        }
    }

    /// Writes `chunks` to a two-part stream expecting `expectedBytes`,
    /// checks the parts' sizes `whileWriting` before finishing, commits,
    /// and reads every chunk back.
    private func writeAndReadBack(_ chunks: [PageChunk], expectedBytes: UInt64,
                                  whileWriting: ([FileState]) throws -> Void) throws {
        let names = ["pages-7.img", "pages-7.1.img"]
        let image = try ImageDirectory.create(at: root)
        let writer = try image.pageWriter(name: names[0], codec: Codec(kind: .none), parts: 2, expectedBytes: expectedBytes)
        for chunk in chunks { try writer.append(chunk) }
        try whileWriting(try names.map(state))
        try image.commit(Manifest())

        let opened = try ImageDirectory.open(at: root)
        for name in names {
            let listed = try XCTUnwrap(opened.manifest.files[name])
            let after = try state(name)
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

    func testTheExpectedSizeIsAllocatedAndCutBackToWhatWasWritten() throws {
        let probe = root + "/fallocate-probe"
        let fd = try LocalFile.open(probe, flags: O_RDWR | O_CREAT)
        defer { close(fd); unlink(probe) }
        do { try LocalFile.allocate(fd, bytes: 4096) } catch let error as SystemError where error.errno == EOPNOTSUPP {
            throw XCTSkip("the file system of \(root) has no fallocate")
        }
        let expected: UInt64 = 64 << 20
        let share = PageStreamWriter.partShare(of: expected, parts: 2)
        try writeAndReadBack(chunks(16, pages: 4), expectedBytes: expected) { parts in
            for part in parts {
                XCTAssertEqual(part.size, share, "a part is its share long while written")
                XCTAssertGreaterThanOrEqual(part.allocated, share, "and has its blocks")
            }
        }
    }

    func testMoreThanExpectedGrowsPastTheShare() throws {
        let share = PageStreamWriter.partShare(of: 4096, parts: 2)
        let written = chunks(8, pages: 512)
        XCTAssertGreaterThan(written.count * 512 * 4096 / 2, Int(share), "each part outgrows its share")
        try writeAndReadBack(written, expectedBytes: 4096) { _ in }
    }

    /// Far more than any disk holds: the allocation fails, and the stream
    /// is written as without it, keeping nothing the failed call allocated.
    func testAnAllocationThatFailsLeavesAPlainFile() throws {
        let pieces = chunks(16, pages: 4)
        try writeAndReadBack(pieces, expectedBytes: 1 << 60) { parts in
            XCTAssertEqual(parts.reduce(0) { $0 + $1.size }, pieces.reduce(0) { total, chunk in
                total + UInt64(try! EncodedPageChunk(chunk, codec: Codec(kind: .none), file: "").size)
            }, "the parts hold just the chunks written")
        }
    }
}
