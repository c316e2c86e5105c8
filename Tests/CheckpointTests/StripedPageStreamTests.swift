@testable import Checkpoint
import Codecs
import Foundation
import XCTest

/// A page stream striped over several files, as a dump of a large process
/// writes it: every part is listed and checked on its own, and the reader
/// sees the chunks of all of them.
final class StripedPageStreamTests: XCTestCase {
    private var root = ""

    override func setUp() {
        root = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func testPartNames() {
        XCTAssertEqual(ImageDirectory.partName("pages-42.img", 1), "pages-42.1.img")
        XCTAssertEqual(ImageDirectory.partName("pages.img", 12), "pages.12.img")
        XCTAssertEqual(ImageDirectory.partName("pages", 2), "pages.2")
    }

    /// Threads appending at once fill every part, and reading the stream
    /// back gives each chunk exactly once.
    func testConcurrentWritersFillEveryPartAndReadBackWhole() throws {
        let image = try ImageDirectory.create(at: root)
        let writer = try image.pageWriter(name: "pages-7.img", codec: Codec(kind: .none), parts: 3)
        let chunks = (0..<48).map { index -> PageChunk in
            var chunk = PageStreamTests.makeChunk(index: index, pages: 4, kind: index)
            chunk.pid = 7
            return chunk
        }
        let failures = FailureLog()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in stride(from: thread, to: chunks.count, by: 4) {
                do { try writer.append(chunks[index]) } catch { failures.add(error) }
            }
        }
        XCTAssertEqual(failures.all.count, 0, "\(failures.all)")
        try image.commit(Manifest())

        let files = image.manifest.files
        for name in ["pages-7.img", "pages-7.1.img", "pages-7.2.img"] {
            XCTAssertNotNil(files[name], "\(name) is listed")
        }
        XCTAssertNil(files["pages-7.3.img"])

        let opened = try ImageDirectory.open(at: root)
        let reader = try opened.pageReader(name: "pages-7.img")
        XCTAssertEqual(reader.partSummaries.map(\.name), ["pages-7.img", "pages-7.1.img", "pages-7.2.img"])
        XCTAssertTrue(reader.partSummaries.allSatisfy { $0.summary.chunks > 0 }, "every part was written to")
        XCTAssertEqual(reader.summary.chunks, chunks.count)
        XCTAssertEqual(reader.summary.pages, UInt64(chunks.count * 4))
        let readBack = try reader.chunkLocations().map { try reader.readChunk($0) }
        let key = { (c: PageChunk) in c.ranges[0].address }
        XCTAssertEqual(readBack.sorted { key($0) < key($1) }, chunks.sorted { key($0) < key($1) })
        try reader.verifyChunkChecksums()
    }

    /// A restore checks every page file of a tree before it writes any:
    /// a reader closed meanwhile holds no descriptor, and reads as before.
    func testAClosedReaderHoldsNoDescriptorsAndOpensThemAgainToRead() throws {
        let image = try ImageDirectory.create(at: root)
        let writer = try image.pageWriter(name: "pages-9.img", codec: Codec(kind: .none), parts: 2)
        let chunks = (0..<8).map { index -> PageChunk in
            var chunk = PageStreamTests.makeChunk(index: index, pages: 2, kind: 0)
            chunk.pid = 9
            return chunk
        }
        for chunk in chunks { try writer.append(chunk) }
        try image.commit(Manifest())
        let reader = try ImageDirectory.open(at: root).pageReader(name: "pages-9.img")
        let parts = reader.partSummaries.count
        XCTAssertEqual(parts, 2)

        func descriptors() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }
        let open = try descriptors()
        reader.closeFiles()
        XCTAssertEqual(try descriptors(), open - parts)
        let readBack = try reader.chunkLocations().map { try reader.readChunk($0) }
        XCTAssertEqual(readBack.count, chunks.count)
        XCTAssertEqual(Set(readBack.map(\.data)), Set(chunks.map(\.data)))
        XCTAssertEqual(try descriptors(), open)
    }

    func testAFlippedByteInALaterPartIsRejectedByName() throws {
        _ = try ImageFixture.make(at: root, chunkCount: 8, parts: 2)
        let part = root + "/" + ImageDirectory.partName(ImageFixture.pagesName, 1)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: part)))
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: part))
        XCTAssertThrowsError(try ImageDirectory.open(at: root)) { error in
            XCTAssertTrue("\(error)".contains("pages-100.1.img"), "\(error)")
        }
    }

    func testAMissingPartIsRejectedByName() throws {
        _ = try ImageFixture.make(at: root, chunkCount: 8, parts: 2)
        try FileManager.default.removeItem(atPath: root + "/pages-100.1.img")
        XCTAssertThrowsError(try ImageDirectory.open(at: root)) { error in
            XCTAssertTrue("\(error)".contains("pages-100.1.img"), "\(error)")
        }
    }

    func testAStripedImageReadsBackLikeAPlainOne() throws {
        let fixture = try ImageFixture.make(at: root, chunkCount: 9, codec: .default, parts: 2)
        let (_, process, chunks) = try ImageFixture.readAll(at: root)
        XCTAssertEqual(process, fixture.process)
        let key = { (c: PageChunk) in c.ranges[0].address }
        XCTAssertEqual(chunks.sorted { key($0) < key($1) }, fixture.chunks.sorted { key($0) < key($1) })
    }

    private final class FailureLog: @unchecked Sendable {
        private let lock = NSLock()
        private var errors: [Error] = []
        func add(_ error: Error) { lock.lock(); errors.append(error); lock.unlock() }
        var all: [Error] { lock.lock(); defer { lock.unlock() }; return errors }
    }
}
