@testable import Checkpoint
import Codecs
import XCTest

final class PageStreamTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A chunk of `pages` pages in two ranges, with content chosen by `kind`.
    static func makeChunk(index: Int, pages: Int, kind: Int) -> PageChunk {
        let size = pages * PageRange.pageSize
        let data: [UInt8]
        switch kind % 4 {
        case 0: data = TestData.random(size, seed: UInt64(index))
        case 1: data = TestData.zeros(size)
        case 2: data = TestData.text(size, seed: UInt64(index))
        default: data = TestData.halfZero(size, seed: UInt64(index))
        }
        let first = max(1, pages / 3)
        var ranges = [PageRange(address: 0x7f00_0000_0000 + UInt64(index) << 24, pageCount: UInt32(first))]
        if pages > first {
            ranges.append(PageRange(address: 0x5500_0000_0000 + UInt64(index) << 24, pageCount: UInt32(pages - first)))
        }
        return PageChunk(pid: Int32(100 + index % 3), ranges: ranges, data: data)
    }

    func testConcurrentWritesReadBack() throws {
        let path = directory + "/pages.img"
        let writer = try PageStreamWriter(path: path, codec: .default)
        let chunks = (0..<24).map { Self.makeChunk(index: $0, pages: 1 + $0 * 7 % 40, kind: $0) }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: chunks.count) { index in
            do { try writer.append(chunks[index]) } catch { failures.add("\(error)") }
        }
        XCTAssertEqual(failures.all, [])
        let summary = try writer.finish()
        XCTAssertEqual(try writer.finish(), summary)

        XCTAssertEqual(summary.chunks, chunks.count)
        XCTAssertEqual(summary.pages, chunks.reduce(0) { $0 + $1.pageCount })
        XCTAssertEqual(summary.rawBytes, UInt64(chunks.reduce(0) { $0 + $1.data.count }))
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertEqual(summary.fileSize, UInt64(bytes.count))
        XCTAssertEqual(summary.crc32, CRC32.checksum([UInt8](bytes)))
        XCTAssertLessThan(summary.storedBytes, summary.rawBytes)

        let reader = try PageStreamReader(path: path)
        XCTAssertEqual(reader.summary, summary)
        try reader.verifyChunkChecksums()
        var read: [PageChunk] = []
        for location in reader.chunkLocations() {
            read.append(try reader.readChunk(location))
        }
        let key = { (chunk: PageChunk) in chunk.ranges[0].address }
        XCTAssertEqual(read.sorted { key($0) < key($1) }, chunks.sorted { key($0) < key($1) })
        // Random chunks are stored raw, the others compressed.
        let codecs = Set(reader.chunkLocations().map(\.header.codec))
        XCTAssertEqual(codecs, [.none, .zstd])
    }

    func testConcurrentReads() throws {
        let path = directory + "/pages.img"
        let writer = try PageStreamWriter(path: path, codec: Codec(kind: .zlib))
        let chunks = (0..<8).map { Self.makeChunk(index: $0, pages: 16, kind: $0) }
        for chunk in chunks { try writer.append(chunk) }
        _ = try writer.finish()
        let reader = try PageStreamReader(path: path)
        let locations = reader.chunkLocations()
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 64) { index in
            let location = locations[index % locations.count]
            do {
                if try reader.readChunk(location) != chunks[location.index] { failures.add("chunk \(location.index)") }
            } catch {
                failures.add("\(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
    }

    func testEmptyFile() throws {
        let path = directory + "/pages.img"
        let summary = try PageStreamWriter(path: path, codec: .default).finish()
        XCTAssertEqual(summary, PageStreamSummary())
        let reader = try PageStreamReader(path: path)
        XCTAssertEqual(reader.chunkLocations(), [])
    }

    func testRefusesInvalidChunks() throws {
        let writer = try PageStreamWriter(path: directory + "/pages.img", codec: .default)
        let page = TestData.zeros(4096)
        let bad: [(PageChunk, String)] = [
            (PageChunk(pid: 1, ranges: [PageRange(address: 0x1001, pageCount: 1)], data: page), "ranges[0].address"),
            (PageChunk(pid: 1, ranges: [PageRange(address: 0x1000, pageCount: 2)], data: page), "rawSize"),
            (PageChunk(pid: 1, ranges: [], data: page), "rangeCount"),
            (PageChunk(pid: 0, ranges: [PageRange(address: 0x1000, pageCount: 1)], data: page), "pid"),
            (PageChunk(pid: 1, ranges: [PageRange(address: 0x1000, pageCount: 0), PageRange(address: 0, pageCount: 1)], data: page), "ranges[0].pageCount"),
            (PageChunk(pid: 1, ranges: [PageRange(address: UInt64.max - 4095, pageCount: 1)], data: page), "ranges[0]"),
        ]
        for (chunk, field) in bad {
            XCTAssertThrowsError(try writer.append(chunk)) { error in
                XCTAssertEqual((error as? ImageError)?.field, field, "\(error)")
            }
        }
        XCTAssertEqual(try writer.finish().chunks, 0)
    }

    func testAppendAfterFinishFails() throws {
        let writer = try PageStreamWriter(path: directory + "/pages.img", codec: .default)
        _ = try writer.finish()
        XCTAssertThrowsError(try writer.append(Self.makeChunk(index: 0, pages: 1, kind: 1)))
    }

    func testCorruptionIsNamed() throws {
        let path = directory + "/pages.img"
        let writer = try PageStreamWriter(path: path, codec: .default)
        for index in 0..<3 { try writer.append(Self.makeChunk(index: index, pages: 4, kind: 2)) }
        _ = try writer.finish()
        let original = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: path)))
        let locations = try PageStreamReader(path: path).chunkLocations()

        func expectError(_ bytes: [UInt8], chunk: Int, field: String, whenReading: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let reader = try PageStreamReader(path: path)
                XCTAssertTrue(whenReading, "open succeeded", file: file, line: line)
                for location in reader.chunkLocations() { _ = try reader.readChunk(location) }
                XCTFail("no error", file: file, line: line)
            } catch let error as ImageError {
                XCTAssertEqual(error.file, "pages.img", file: file, line: line)
                XCTAssertEqual(error.chunk, chunk, "\(error)", file: file, line: line)
                XCTAssertEqual(error.field, field, "\(error)", file: file, line: line)
            }
        }
        let second = Int(locations[1].offset)
        var bytes = original
        bytes[second] ^= 1
        try expectError(bytes, chunk: 1, field: "magic")
        bytes = original
        bytes[second + 20] ^= 0x80
        try expectError(bytes, chunk: 1, field: "headerCRC32")
        bytes = original
        bytes[Int(locations[1].dataOffset) + 3] ^= 4
        try expectError(bytes, chunk: 1, field: "dataCRC32", whenReading: true)
        try expectError(Array(original.dropLast(1)), chunk: 2, field: "storedSize")
        try expectError(Array(original[..<(second + 10)]), chunk: 1, field: "header")
        try expectError(Array(original[..<(second + 45)]), chunk: 1, field: "rangeCount")
        try expectError(original + [0], chunk: 3, field: "header")
        let message = "\(ImageError(file: "pages-1234.img", chunk: 17, field: "dataCRC32", reason: "stored 0x1234abcd, computed 0x9f00aa11"))"
        XCTAssertEqual(message, "image file pages-1234.img, chunk 17 field dataCRC32: stored 0x1234abcd, computed 0x9f00aa11")
    }

    func testHostileHeaderFieldsAreRejectedBeforeAllocation() throws {
        let header = PageChunkHeader(
            pid: 5, codec: .zstd, ranges: [PageRange(address: 0x1000, pageCount: 2)], rawSize: 8192, storedSize: 100, dataCRC32: 0)
        var hostile = header
        hostile.rawSize = UInt64.max
        XCTAssertEqual(decodeError(hostile.encoded())?.field, "rawSize")
        hostile = header
        hostile.storedSize = 9000
        XCTAssertEqual(decodeError(hostile.encoded())?.field, "storedSize")
        hostile = header
        hostile.ranges = [PageRange(address: 0x1000, pageCount: UInt32.max)]
        XCTAssertEqual(decodeError(hostile.encoded())?.field, "rawSize")
        var bytes = header.encoded()
        bytes[12] = 0xff; bytes[13] = 0xff; bytes[14] = 0xff; bytes[15] = 0xff
        XCTAssertEqual(decodeError(bytes)?.field, "rangeCount")
        bytes = header.encoded()
        bytes[6] = 9
        XCTAssertEqual(decodeError(bytes)?.field, "headerCRC32")
        XCTAssertEqual(try PageChunkHeader.decode(header.encoded(), file: "f", chunk: 0), header)
    }

    private func decodeError(_ bytes: [UInt8]) -> ImageError? {
        do {
            _ = try PageChunkHeader.decode(bytes, file: "f", chunk: 0)
            return nil
        } catch {
            return error as? ImageError
        }
    }
}
