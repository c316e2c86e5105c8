import Codecs
import Foundation

/// CRC-32 of a whole file, read in large blocks and, for big files, in
/// parallel segments joined with CRC32.combine: verifying a multi-GiB page
/// file at open should cost about one read of it, not a core-bound crawl.
enum WholeFileChecksum {
    static let blockSize = 256 << 10
    static let parallelThreshold: UInt64 = 64 << 20

    static func crc32(of file: ImageFile, size: UInt64) throws -> UInt32 {
        let segmentCount = size < parallelThreshold ? 1 : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let segmentSize = (size + UInt64(segmentCount) - 1) / UInt64(segmentCount)
        let results = SegmentResults(count: segmentCount)
        DispatchQueue.concurrentPerform(iterations: segmentCount) { segment in
            let start = UInt64(segment) * segmentSize
            let end = min(size, start + segmentSize)
            results.set(segment, Result { try crc32(of: file, from: start, to: end) })
        }
        var crc: UInt32 = 0
        for segment in 0..<segmentCount {
            let (segmentCRC, length) = try results.get(segment)
            crc = CRC32.combine(crc, segmentCRC, lengthB: length)
        }
        return crc
    }

    /// Each block is read into one reused buffer small enough to stay in
    /// the core's cache, so the checksum reads what the copy just wrote
    /// without going out to memory again.
    private static func crc32(of file: ImageFile, from start: UInt64, to end: UInt64) throws -> (UInt32, Int) {
        var crc: UInt32 = 0
        var offset = start
        var block = [UInt8](repeating: 0, count: blockSize)
        while offset < end {
            let count = Int(min(UInt64(blockSize), end - offset))
            try file.read(into: &block, count: count, at: offset)
            crc = CRC32.update(crc, block[0..<count])
            offset += UInt64(count)
        }
        return (crc, Int(offset - start))
    }

    private final class SegmentResults: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [Result<(UInt32, Int), Error>?]

        init(count: Int) {
            results = Array(repeating: nil, count: count)
        }

        func set(_ index: Int, _ result: Result<(UInt32, Int), Error>) {
            lock.lock()
            results[index] = result
            lock.unlock()
        }

        func get(_ index: Int) throws -> (UInt32, Int) {
            lock.lock()
            defer { lock.unlock() }
            return try results[index]!.get()
        }
    }
}
