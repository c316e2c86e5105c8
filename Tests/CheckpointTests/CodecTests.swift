import Codecs
import XCTest

final class CodecTests: XCTestCase {
    private let codecs = [
        Codec(kind: .zlib, level: 1), Codec(kind: .zlib, level: 6), Codec(kind: .zlib, level: 9),
        Codec(kind: .zstd, level: 1), Codec(kind: .zstd, level: 3), Codec(kind: .zstd, level: 19),
    ]

    func testRoundTripsCompressibleData() throws {
        let inputs = [TestData.zeros(65536), TestData.text(100_000, seed: 1), TestData.halfZero(65536, seed: 2)]
        for codec in codecs {
            for input in inputs {
                let compressed = try XCTUnwrap(try compress(input, codec: codec), "\(codec)")
                XCTAssertLessThan(compressed.count, input.count)
                let restored = try decompress(compressed, codec: codec.kind, rawSize: input.count)
                XCTAssertEqual(restored, input, "\(codec)")
            }
        }
    }

    func testIncompressibleInputIsLeftToTheCaller() throws {
        let input = TestData.random(65536, seed: 3)
        for codec in codecs + [Codec(kind: .none)] {
            XCTAssertNil(try compress(input, codec: codec), "\(codec)")
        }
        XCTAssertNil(try compress([], codec: .default))
        XCTAssertNil(try compress([7], codec: Codec(kind: .zlib)))
    }

    func testNoneCodecPassesBytesThrough() throws {
        let input = TestData.random(100, seed: 4)
        XCTAssertEqual(try decompress(input, codec: .none, rawSize: 100), input)
        XCTAssertThrowsError(try decompress(input, codec: .none, rawSize: 99))
    }

    func testSlicesCompressLikeArrays() throws {
        let buffer = TestData.text(20000, seed: 5)
        let slice = buffer[1000..<9000]
        let compressed = try XCTUnwrap(try compress(slice, codec: .default))
        XCTAssertEqual(try decompress(compressed, codec: .zstd, rawSize: 8000), Array(slice))
    }

    func testWrongSizeOrGarbageThrows() throws {
        let input = TestData.text(50000, seed: 6)
        for kind in [CodecKind.zlib, .zstd] {
            let compressed = try XCTUnwrap(try compress(input, codec: Codec(kind: kind)))
            XCTAssertThrowsError(try decompress(compressed, codec: kind, rawSize: input.count - 1), "\(kind) short")
            XCTAssertThrowsError(try decompress(compressed, codec: kind, rawSize: input.count + 1), "\(kind) long")
            XCTAssertThrowsError(try decompress(compressed, codec: kind, rawSize: 0), "\(kind) empty")
            XCTAssertThrowsError(try decompress(compressed, codec: kind, rawSize: -1), "\(kind) negative")
            XCTAssertThrowsError(try decompress(Array(compressed.dropLast(3)), codec: kind, rawSize: input.count))
            XCTAssertThrowsError(try decompress(compressed + [1, 2, 3], codec: kind, rawSize: input.count))
            for seed in 0..<200 as Range<UInt64> {
                let garbage = TestData.random(Int(seed % 97) + 1, seed: seed)
                XCTAssertThrowsError(try decompress(garbage, codec: kind, rawSize: 4096))
            }
            XCTAssertThrowsError(try decompress([], codec: kind, rawSize: 4096))
        }
    }

    func testAbsurdOutputSizeIsRefusedBeforeAllocating() throws {
        let zeros = TestData.zeros(16 << 20)
        for kind in [CodecKind.zlib, .zstd] {
            let compressed = try XCTUnwrap(try compress(zeros, codec: Codec(kind: kind, level: kind == .zstd ? 19 : 9)))
            XCTAssertEqual(try decompress(compressed, codec: kind, rawSize: zeros.count).count, zeros.count, "\(kind)")
            XCTAssertThrowsError(try decompress(compressed, codec: kind, rawSize: Int.max), "\(kind)")
            XCTAssertThrowsError(try decompress([1, 2, 3], codec: kind, rawSize: 1 << 40), "\(kind)")
        }
    }

    func testWrongCodecThrows() throws {
        let input = TestData.text(50000, seed: 7)
        let zstd = try XCTUnwrap(try compress(input, codec: Codec(kind: .zstd)))
        let zlib = try XCTUnwrap(try compress(input, codec: Codec(kind: .zlib)))
        XCTAssertThrowsError(try decompress(zstd, codec: .zlib, rawSize: input.count))
        XCTAssertThrowsError(try decompress(zlib, codec: .zstd, rawSize: input.count))
    }

    func testConcurrentUseOfPooledContexts() throws {
        let inputs = (0..<8).map { TestData.halfZero(1 << 20, seed: UInt64($0)) }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 32) { index in
            let input = inputs[index % inputs.count]
            do {
                let compressed = try compress(input, codec: Codec(kind: .zstd, level: 1 + Int32(index % 3)))
                let restored = try decompress(compressed!, codec: .zstd, rawSize: input.count)
                if restored != input { failures.add("mismatch at \(index)") }
            } catch {
                failures.add("\(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
    }

    func testParsesSpecs() throws {
        XCTAssertEqual(try Codec(parsing: "none"), Codec(kind: .none))
        XCTAssertEqual(try Codec(parsing: "zlib"), Codec(kind: .zlib, level: 1))
        XCTAssertEqual(try Codec(parsing: "zlib:6"), Codec(kind: .zlib, level: 6))
        XCTAssertEqual(try Codec(parsing: "zstd"), Codec(kind: .zstd, level: 1))
        XCTAssertEqual(try Codec(parsing: "zstd:19"), Codec(kind: .zstd, level: 19))
        XCTAssertEqual(Codec.default, Codec(kind: .zstd, level: 1))
        XCTAssertEqual(Codec(kind: .zstd, level: 3).description, "zstd:3")
        XCTAssertEqual(Codec(kind: .none, level: 5).description, "none")
        for spec in ["zstd:3", "zlib:9", "none"] {
            XCTAssertEqual(try Codec(parsing: spec).description, spec)
        }
    }

    func testRejectsBadSpecsClearly() {
        let bad = ["", "lz4", "ZSTD", "zstd:", "zstd:0", "zstd:20", "zstd:-1", "zstd:x", "zlib:10", "zlib:0", "none:1", "zstd:1:2"]
        for spec in bad {
            XCTAssertThrowsError(try Codec(parsing: spec), spec) { error in
                guard case CodecError.invalidSpec(let got, _) = error else {
                    return XCTFail("\(spec): \(error)")
                }
                XCTAssertEqual(got, spec)
                XCTAssertTrue("\(error)".contains("invalid codec"), "\(error)")
            }
        }
        XCTAssertTrue("\(String(describing: try? Codec(parsing: "zstd:20")))" == "nil")
        do {
            _ = try Codec(parsing: "zstd:20")
        } catch {
            XCTAssertTrue("\(error)".contains("1...19"), "\(error)")
        }
    }

    func testCodecEncodesAsItsSpec() throws {
        let json = try JSONEncoder().encode([Codec(kind: .zstd, level: 3)])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), "[\"zstd:3\"]")
        XCTAssertEqual(try JSONDecoder().decode([Codec].self, from: json), [Codec(kind: .zstd, level: 3)])
        XCTAssertThrowsError(try JSONDecoder().decode([Codec].self, from: Data("[\"zstd:99\"]".utf8)))
    }

    /// A large random chunk is recognized from a sample and left raw; a
    /// large chunk whose sampled slices shrink is compressed whole.
    func testLargeChunksAreJudgedFromASample() throws {
        let size = 1 << 20
        for codec in [Codec(kind: .zstd, level: 1), Codec(kind: .zlib, level: 1)] {
            XCTAssertNil(try compress(TestData.random(size, seed: 4), codec: codec), "\(codec)")
            let text = [UInt8](String(repeating: "checkpoint and restore, page after page. ", count: size / 40 + 1).utf8.prefix(size))
            let packed = try XCTUnwrap(try compress(text, codec: codec), "\(codec)")
            XCTAssertLessThan(packed.count, size / 10)
            XCTAssertEqual(try decompress(packed, codec: codec.kind, rawSize: size), text)
        }
    }
}

/// Collects failures from concurrent work, for one assertion at the end.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func add(_ message: String) {
        lock.lock()
        messages.append(message)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return messages
    }
}
