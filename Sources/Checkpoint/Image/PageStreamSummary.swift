import Codecs

/// Totals of a page file, reported after a dump and recorded in the manifest
/// as the file's checksum.
public struct PageStreamSummary: Codable, Equatable, Sendable {
    public var chunks: Int
    public var pages: UInt64
    public var rawBytes: UInt64
    /// Compressed bytes (or raw, for chunks that did not shrink), headers excluded.
    public var storedBytes: UInt64
    /// Headers included.
    public var fileSize: UInt64
    /// CRC-32 of the whole file.
    public var crc32: UInt32

    public init(chunks: Int = 0, pages: UInt64 = 0, rawBytes: UInt64 = 0, storedBytes: UInt64 = 0, fileSize: UInt64 = 0, crc32: UInt32 = 0) {
        self.chunks = chunks
        self.pages = pages
        self.rawBytes = rawBytes
        self.storedBytes = storedBytes
        self.fileSize = fileSize
        self.crc32 = crc32
    }

    /// Accounts for one more chunk at the end of the file.
    mutating func add(_ header: PageChunkHeader, encodedSize: Int, crc32 chunkCRC: UInt32) {
        chunks += 1
        pages += header.pageCount
        rawBytes += header.rawSize
        storedBytes += header.storedSize
        fileSize += UInt64(encodedSize)
        crc32 = CRC32.combine(crc32, chunkCRC, lengthB: encodedSize)
    }

    /// Adds the totals of another part of the same stream; `crc32` stays
    /// this one's, since each file's CRC is checked on its own.
    mutating func addPart(_ other: PageStreamSummary) {
        chunks += other.chunks
        pages += other.pages
        rawBytes += other.rawBytes
        storedBytes += other.storedBytes
        fileSize += other.fileSize
    }
}
