import Codecs
import Foundation
import Ptrace

/// CRC-32 of a whole file, read through a mapping of it and, for big
/// files, in parallel segments joined with CRC32.combine: verifying a
/// multi-GiB page file at open should cost about one pass over its page
/// cache, not a copy of it into a buffer first (half the time the pass
/// takes with pread) nor a core-bound crawl.
enum WholeFileChecksum {
    static let parallelThreshold: UInt64 = 64 << 20
    /// Segments are checksummed a slice at a time, so that one that fails
    /// is told as the offset it failed at.
    static let sliceSize = 4 << 20

    /// The CRC-32 of the whole of `mapping`, a mapping of the file at `path`.
    static func crc32(of mapping: MappedFile, path: String) throws -> UInt32 {
        let size = UInt64(mapping.size)
        let segmentCount = size < parallelThreshold ? 1 : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let segmentSize = (size + UInt64(segmentCount) - 1) / UInt64(segmentCount)
        let results = SegmentResults(count: segmentCount)
        DispatchQueue.concurrentPerform(iterations: segmentCount) { segment in
            let start = UInt64(segment) * segmentSize
            let end = min(size, start + segmentSize)
            results.set(segment, Result { try crc32(of: mapping, path: path, from: Int(start), to: Int(end)) })
        }
        var crc: UInt32 = 0
        for segment in 0..<segmentCount {
            let (segmentCRC, length) = try results.get(segment)
            crc = CRC32.combine(crc, segmentCRC, lengthB: length)
        }
        return crc
    }

    private static func crc32(of mapping: MappedFile, path: String, from start: Int, to end: Int) throws -> (UInt32, Int) {
        var crc: UInt32 = 0
        var offset = start
        while offset < end {
            let slice = offset..<min(end, offset + sliceSize)
            switch mapping.withGuardedBytes(slice, { CRC32.update(crc, mapping: $0) }) {
            case .success(let value):
                crc = value
            case .failure(let failure):
                // A page that vanished is the file shrinking under the
                // read, or the device failing to read it: a read error.
                throw ImageIOError(path: path, operation: "read at offset \(offset) of the mapping",
                                   errno: failure.errno == EFAULT ? EIO : failure.errno)
            }
            offset = slice.upperBound
        }
        return (crc, end - start)
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
