import Codecs

/// A chunk in its stored form: what goes into a page file or onto a socket.
public struct EncodedPageChunk: Sendable {
    public var header: PageChunkHeader
    /// The header and range table as written.
    public var headerBytes: [UInt8]
    /// The stored data: compressed, or the raw pages when that did not shrink.
    public var stored: [UInt8]

    public var size: Int { headerBytes.count + stored.count }

    /// CRC-32 of headerBytes followed by stored, from the CRCs already known.
    public var crc32: UInt32 {
        CRC32.combine(CRC32.checksum(headerBytes), header.dataCRC32, lengthB: stored.count)
    }

    /// Wraps stored bytes whose header is already known, e.g. read from a
    /// file or a socket, so they can be passed on unchanged.
    public init(header: PageChunkHeader, stored: [UInt8]) {
        self.header = header
        self.headerBytes = header.encoded()
        self.stored = stored
    }

    /// Compresses and checksums on the calling thread; this is the expensive
    /// part of writing, so callers run it on as many threads as they have.
    /// `file` only names the destination in errors.
    public init(_ chunk: PageChunk, codec: Codec, file: String) throws {
        let compressed = try Codecs.compress(chunk.data, codec: codec)
        stored = compressed ?? chunk.data
        header = PageChunkHeader(
            pid: chunk.pid, codec: compressed == nil ? .none : codec.kind, ranges: chunk.ranges,
            rawSize: UInt64(chunk.data.count), storedSize: UInt64(stored.count),
            dataCRC32: CRC32.checksum(stored))
        if let violation = header.ruleViolation() {
            throw ImageError(file: file, field: violation.field, reason: "refusing to write a chunk: \(violation.reason)")
        }
        headerBytes = header.encoded()
    }
}
