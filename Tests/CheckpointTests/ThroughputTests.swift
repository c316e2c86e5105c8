import Checkpoint
import Codecs
import XCTest

/// Prints compression, checksum and page-writer speeds for orientation
/// (compare with the figures in docs): no timed assertions, since machines
/// and build modes differ.
final class ThroughputTests: XCTestCase {
    func testPrintsCompressionAndChecksumSpeed() throws {
        let inputs = [("random", TestData.random(1 << 20, seed: 1)), ("half-zero", TestData.halfZero(1 << 20, seed: 2))]
        for (label, input) in inputs {
            for codec in [Codec(kind: .zstd, level: 1), Codec(kind: .zstd, level: 3), Codec(kind: .zlib, level: 1)] {
                let rounds = codec.kind == .zlib ? 4 : 32
                var stored = 0
                let seconds = try measureSeconds {
                    for _ in 0..<rounds {
                        let output = try compress(input, codec: codec)
                        stored = output?.count ?? input.count
                        _ = CRC32.checksum(output ?? input)
                    }
                }
                print("throughput: \(label) 1 MiB, \(codec) + crc32: \(megabytesPerSecond(rounds << 20, seconds)) MB/s, stored \((stored * 100) >> 20)%")
            }
        }
        let crcSeconds = try measureSeconds { for _ in 0..<64 { _ = CRC32.checksum(inputs[0].1) } }
        print("throughput: crc32 alone: \(megabytesPerSecond(64 << 20, crcSeconds)) MB/s")
    }

    func testPrintsPageWriterSpeed() throws {
        let directory = TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let chunks = (0..<8).map { index -> PageChunk in
            let seed = UInt64(index)
            let data = index % 2 == 0 ? TestData.halfZero(1 << 20, seed: seed) : TestData.random(1 << 20, seed: seed)
            return PageChunk(pid: 1, ranges: [PageRange(address: seed << 24, pageCount: 256)], data: data)
        }
        let writer = try PageStreamWriter(path: directory + "/pages.img", codec: .default)
        let count = 128
        let failures = Failures()
        let seconds = try measureSeconds {
            DispatchQueue.concurrentPerform(iterations: 2) { thread in
                for index in stride(from: thread, to: count, by: 2) {
                    do { try writer.append(chunks[index % chunks.count]) } catch { failures.add("\(error)") }
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        let summary = try writer.finish()
        XCTAssertEqual(summary.chunks, count)
        print("throughput: page writer, 2 threads, zstd:1, half random: \(megabytesPerSecond(count << 20, seconds)) MB/s")

        let reader = try PageStreamReader(path: directory + "/pages.img")
        let readSeconds = try measureSeconds {
            for location in reader.chunkLocations() { _ = try reader.readChunk(location) }
        }
        print("throughput: page reader, 1 thread: \(megabytesPerSecond(count << 20, readSeconds)) MB/s")
    }

    private func measureSeconds(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private func megabytesPerSecond(_ bytes: Int, _ seconds: Double) -> Int {
        Int(Double(bytes) / 1e6 / max(seconds, 1e-9))
    }
}
