@testable import Checkpoint
import Codecs
import XCTest

/// Damages a valid image in thousands of deterministic ways and checks that
/// reading it either yields the original content or throws a typed error:
/// never a crash, a hang or a huge allocation.
///
/// Raw mutations (bit flips, byte sets, truncations, insertions, deletions)
/// are mostly caught by checksums, so half of them are re-sealed (the
/// manifest's record of the file, or the manifest's own checksum, is
/// updated) and structured ones rewrite chunk header fields with hostile
/// values and fix up the header CRC: that drives the damage past the
/// checksums into the parsers and decompressors behind them.
final class ImageFuzzTests: XCTestCase {
    private static let iterations = 3000
    private var root = ""

    override func setUp() {
        root = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func testMutatedImagesFailCleanly() throws {
        let path = root + "/image"
        let fixture = try ImageFixture.make(at: path, chunkCount: 6, pagesPerChunk: 6)
        let names = ["manifest.json", ImageFixture.jsonName, ImageFixture.pagesName]
        var originals: [String: [UInt8]] = [:]
        for name in names { originals[name] = try read(path + "/" + name) }
        let chunkOffsets = try PageStreamReader(path: path + "/" + ImageFixture.pagesName).chunkLocations().map { Int($0.offset) }
        let expected = Expected(fixture)
        var generator = SeededGenerator(seed: 0xC0FFEE)
        var outcomes: [String: Int] = [:]
        let memoryBefore = maxResidentBytes()

        for iteration in 0..<Self.iterations {
            let name = names[[0, 1, 2, 2, 2][Int(generator.next() % 5)]]
            var bytes = originals[name]!
            let mutation: String
            if name == ImageFixture.pagesName, generator.next() % 3 == 0 {
                mutation = Self.mutateChunk(&bytes, chunkOffsets: chunkOffsets, using: &generator)
            } else {
                mutation = Self.mutate(&bytes, using: &generator)
            }
            let resealed = mutation.hasPrefix("chunk") || generator.next() % 2 == 0
            try write(bytes, to: path + "/" + name)
            if resealed { try reseal(name, bytes: bytes, in: path, originalManifest: fixture.manifest) }

            let context = "iteration \(iteration): \(name) \(mutation)\(resealed ? " (resealed)" : "")"
            outcomes[check(path: path, expected: expected, exact: !resealed, context: context), default: 0] += 1
            if name == ImageFixture.pagesName {
                checkPagesAlone(path + "/" + name, expected: expected, exact: !resealed, context: context)
            }

            try write(originals[name]!, to: path + "/" + name)
            if resealed { try write(originals["manifest.json"]!, to: path + "/manifest.json") }
        }
        let growth = maxResidentBytes() - memoryBefore
        XCTAssertLessThan(growth, 1 << 30, "peak memory grew by \(growth >> 20) MiB")
        XCTAssertGreaterThan(outcomes["ImageError", default: 0], Self.iterations / 2, "\(outcomes)")
        // Everything restored: the image reads back whole.
        XCTAssertEqual(check(path: path, expected: expected, exact: true, context: "restored"), "ok")
    }

    // MARK: - Checks

    /// What a successful read must produce, compared cheaply (CRCs of chunk
    /// data rather than byte by byte, which is slow in debug builds).
    private struct Expected {
        var manifest: Manifest
        var process: SampleProcess
        var chunks: [(pid: Int32, ranges: [PageRange], crc: UInt32, size: Int)]

        init(_ fixture: ImageFixture) {
            manifest = fixture.manifest
            process = fixture.process
            chunks = fixture.chunks.map { ($0.pid, $0.ranges, CRC32.checksum($0.data), $0.data.count) }
        }
    }

    /// Reads the whole image; returns the outcome's name for statistics.
    private func check(path: String, expected: Expected, exact: Bool, context: String) -> String {
        do {
            let image = try ImageDirectory.open(at: path)
            let process = try image.readJSON(SampleProcess.self, from: ImageFixture.jsonName)
            let reader = try image.pageReader(name: ImageFixture.pagesName)
            let chunks = try reader.chunkLocations().map { try reader.readChunk($0) }
            if exact {
                XCTAssertEqual(image.manifest, expected.manifest, context)
                XCTAssertEqual(process, expected.process, context)
                assertSame(chunks, expected.chunks, context)
            } else {
                assertConsistent(chunks, context)
            }
            return "ok"
        } catch {
            return classify(error, context)
        }
    }

    /// The page file without the manifest's protection: every byte of damage
    /// reaches the chunk walk.
    private func checkPagesAlone(_ path: String, expected: Expected, exact: Bool, context: String) {
        do {
            let reader = try PageStreamReader(path: path)
            try reader.verifyChunkChecksums()
            let chunks = try reader.chunkLocations().map { try reader.readChunk($0) }
            assertConsistent(chunks, context)
        } catch {
            _ = classify(error, context + " (page file alone)")
        }
    }

    private func classify(_ error: Error, _ context: String) -> String {
        switch error {
        case let error as ImageError:
            XCTAssertFalse(error.file.isEmpty, context)
            XCTAssertFalse(error.field.isEmpty, context)
            return "ImageError"
        case is CodecError:
            return "CodecError"
        default:
            XCTFail("\(context): unexpected error \(type(of: error)): \(error)")
            return "other"
        }
    }

    private func assertSame(_ chunks: [PageChunk], _ expected: [(pid: Int32, ranges: [PageRange], crc: UInt32, size: Int)], _ context: String) {
        XCTAssertEqual(chunks.count, expected.count, context)
        for (chunk, want) in zip(chunks, expected) {
            XCTAssertEqual(chunk.pid, want.pid, context)
            XCTAssertEqual(chunk.ranges, want.ranges, context)
            XCTAssertEqual(chunk.data.count, want.size, context)
            XCTAssertEqual(CRC32.checksum(chunk.data), want.crc, context)
        }
    }

    private func assertConsistent(_ chunks: [PageChunk], _ context: String) {
        for chunk in chunks {
            XCTAssertEqual(UInt64(chunk.data.count), chunk.pageCount * UInt64(PageRange.pageSize), context)
            XCTAssertLessThanOrEqual(chunk.data.count, PageChunkHeader.maxRawSize, context)
        }
    }

    // MARK: - Mutations

    private static func mutate(_ bytes: inout [UInt8], using generator: inout SeededGenerator) -> String {
        let count = bytes.count
        let offset = count == 0 ? 0 : Int(generator.next() % UInt64(count))
        switch generator.next() % 6 {
        case 0, 1:
            let bit = Int(generator.next() % 8)
            bytes[offset] ^= 1 << bit
            return "flip bit \(bit) at \(offset)"
        case 2:
            let values: [UInt8] = [0, 0xff, 0x7f, 0x80, 0x22, 0x5c, 0x7b, UInt8(truncatingIfNeeded: generator.next())]
            let value = values[Int(generator.next() % UInt64(values.count))]
            bytes[offset] = value
            return "set \(offset) to \(value)"
        case 3:
            bytes.removeSubrange(offset...)
            return "truncate to \(offset)"
        case 4:
            let inserted = TestData.random(1 + Int(generator.next() % 16), seed: generator.next())
            bytes.insert(contentsOf: inserted, at: offset)
            return "insert \(inserted.count) at \(offset)"
        default:
            let length = min(count - offset, 1 + Int(generator.next() % 64))
            bytes.removeSubrange(offset..<offset + length)
            return "delete \(length) at \(offset)"
        }
    }

    /// Sets one header field of one chunk to a hostile value and fixes the
    /// header CRC, or damages stored data and fixes both CRCs.
    private static func mutateChunk(_ bytes: inout [UInt8], chunkOffsets: [Int], using generator: inout SeededGenerator) -> String {
        let chunk = Int(generator.next() % UInt64(chunkOffsets.count))
        let start = chunkOffsets[chunk]
        let rangeCount = Int(ImageSealing.field(bytes, at: start + 12, width: 4))
        let fields: [(name: String, offset: Int, width: Int)] = [
            ("version", 4, 2), ("codec", 6, 1), ("flags", 7, 1), ("pid", 8, 4), ("rangeCount", 12, 4),
            ("rawSize", 16, 8), ("storedSize", 24, 8), ("dataCRC32", 32, 4),
            ("ranges[0].address", 40, 8), ("ranges[0].pageCount", 48, 4), ("data", -1, 0),
        ]
        let field = fields[Int(generator.next() % UInt64(fields.count))]
        if field.name == "data" {
            let dataStart = start + PageChunkHeader.fixedSize + rangeCount * PageChunkHeader.rangeEntrySize
            let storedSize = Int(ImageSealing.field(bytes, at: start + 24, width: 8))
            let offset = dataStart + Int(generator.next() % UInt64(storedSize))
            bytes[offset] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            ImageSealing.setField(&bytes, at: start + 32, width: 4, UInt64(CRC32.checksum(bytes[dataStart..<dataStart + storedSize])))
            ImageSealing.sealChunkHeader(&bytes, at: start)
            return "chunk \(chunk) data byte \(offset - dataStart) changed"
        }
        let maxValue = field.width == 8 ? UInt64.max : (UInt64(1) << (field.width * 8)) - 1
        let candidates: [UInt64] = [
            0, 1, 2, 3, 4095, 4096, 4097, maxValue, maxValue - 1, maxValue / 2 + 1,
            UInt64(PageChunkHeader.maxRawSize), UInt64(PageChunkHeader.maxRawSize + 4096),
            UInt64(PageChunkHeader.maxRanges), UInt64(PageChunkHeader.maxRanges + 1), generator.next() & maxValue,
        ]
        let value = candidates[Int(generator.next() % UInt64(candidates.count))] & maxValue
        ImageSealing.setField(&bytes, at: start + field.offset, width: field.width, value)
        ImageSealing.sealChunkHeader(&bytes, at: start)
        return "chunk \(chunk) \(field.name) = \(value)"
    }

    // MARK: - Files

    /// Makes the manifest agree with a changed file, so its damage gets past
    /// the whole-file checksums.
    private func reseal(_ name: String, bytes: [UInt8], in path: String, originalManifest: Manifest) throws {
        if name == "manifest.json" {
            if let sealed = try? ImageSealing.sealManifest(bytes) { try write(sealed, to: path + "/" + name) }
            return
        }
        try write(try ImageSealing.manifest(originalManifest, recording: name, as: bytes), to: path + "/manifest.json")
    }

    private func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    private func maxResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
