import Codecs
import Foundation
import Ptrace

/// Reads a page stream written by `PageStreamWriter`: one file, or the
/// parts it was striped over.
///
/// Opening walks every chunk header and validates it, so that afterwards
/// sizes and addresses can be trusted; data CRCs are checked when a chunk
/// is read. Reads are positioned (pread), so restore may decompress chunks
/// on several threads at once.
public final class PageStreamReader: @unchecked Sendable {
    /// The path of the first part, which names the stream.
    public let path: String
    /// The first part's file name.
    public let name: String
    private let parts: [Part]
    private let locations: [PageChunkLocation]
    /// Totals from the headers of every part together; `crc32` is the
    /// first part's whole-file CRC the headers claim, which
    /// `verifyChunkChecksums` confirms against the data.
    public let summary: PageStreamSummary
    /// Each part's file name and totals, in order.
    public var partSummaries: [(name: String, summary: PageStreamSummary)] {
        parts.map { ($0.name, $0.summary) }
    }

    private final class Part: @unchecked Sendable {
        let path: String
        let name: String
        var summary = PageStreamSummary()
        private let lock = NSLock()
        private var opened: ImageFile?
        private var mapped: MappedFile?
        /// The mapping the file was verified through as the image was
        /// opened, if it was kept: it holds no descriptor, so `close`
        /// leaves it.
        private let verified: MappedFile?

        init(path: String, name: String, verified: MappedFile?) throws {
            self.path = path
            self.name = name
            self.verified = verified
            opened = try ImageFile.openForReading(path)
        }

        /// The open file, opened again after `close`.
        func file() throws -> ImageFile {
            lock.lock()
            defer { lock.unlock() }
            if let opened { return opened }
            let made = try ImageFile.openForReading(path)
            opened = made
            return made
        }

        func mapping() throws -> MappedFile {
            if let verified, UInt64(verified.size) == summary.fileSize { return verified }
            let file = try file()
            lock.lock()
            defer { lock.unlock() }
            if let mapped { return mapped }
            let made = try file.mapping(size: summary.fileSize)
            mapped = made
            return made
        }

        func close() {
            lock.lock()
            defer { lock.unlock() }
            opened = nil
            mapped = nil
        }
    }

    public convenience init(path: String) throws {
        try self.init(parts: [(path, (path as NSString).lastPathComponent)])
    }

    /// Set when every byte of the file was checked against the manifest's
    /// CRC as the image was opened: checking each chunk's data CRC again on
    /// read would double the restore's checksum work for nothing.
    var wholeFileVerified = false

    /// `verifiedMappings`: mappings of the parts by name, kept from when
    /// the image was opened (`ImageVerifier.verifiedMappings`).
    init(parts paths: [(path: String, name: String)], verifiedMappings: [String: MappedFile] = [:]) throws {
        precondition(!paths.isEmpty)
        path = paths[0].path
        name = paths[0].name
        parts = try paths.map { try Part(path: $0.path, name: $0.name, verified: verifiedMappings[$0.name]) }
        var all: [PageChunkLocation] = []
        var total = PageStreamSummary()
        for (index, part) in parts.enumerated() {
            let file = try part.file()
            let (found, summary) = try Self.scan(file, size: try file.regularFileSize(), name: part.name, part: index)
            part.summary = summary
            all += found
            if index == 0 { total = summary } else { total.addPart(summary) }
        }
        locations = all
        summary = total
    }

    /// Closes every part's file and mapping until the next read opens them
    /// again: a restore checks the page files of a whole tree before it
    /// writes any, and must not hold them all open meanwhile.
    public func closeFiles() {
        for part in parts { part.close() }
    }

    public func chunkLocations() -> [PageChunkLocation] {
        locations
    }

    /// Every page the stream stores, as normalized runs (PageRanges).
    public var storedPages: [PageRange] {
        PageRanges.normalized(locations.flatMap(\.header.ranges))
    }

    /// The file name of the part holding `location`, for errors.
    public func fileName(of location: PageChunkLocation) -> String {
        parts[location.part].name
    }

    /// Reads, verifies and decompresses one chunk.
    public func readChunk(_ location: PageChunkLocation) throws -> PageChunk {
        try readEncodedChunk(location).decompressed(file: fileName(of: location), chunk: location.index)
    }

    /// A chunk's pages as a source for copying into a process. A raw chunk
    /// of a file verified at open is handed over as a range of a mapping
    /// of the file, so the kernel copies it straight from the page cache;
    /// anything else is read and decompressed as `readChunk` does.
    func readPages(_ location: PageChunkLocation) throws -> (ranges: [PageRange], bytes: SourceBytes) {
        let header = location.header
        if wholeFileVerified, header.codec == .none, header.storedSize == header.rawSize, header.storedSize > 0 {
            let start = Int(location.dataOffset)
            return (header.ranges, .mapped(try parts[location.part].mapping(), range: start..<(start + Int(header.storedSize))))
        }
        let chunk = try readChunk(location)
        return (chunk.ranges, .array(chunk.data))
    }

    /// The chunk exactly as stored, after checking its data CRC: lets a
    /// migration send chunks over a socket without recompressing them.
    public func readEncodedChunk(_ location: PageChunkLocation) throws -> EncodedPageChunk {
        let header = location.header
        let part = parts[location.part]
        let stored = try part.file().read(count: Int(header.storedSize), at: location.dataOffset)
        guard stored.count == Int(header.storedSize) else {
            throw ImageError(
                file: part.name, chunk: location.index, field: "storedSize",
                reason: "file ends after \(stored.count) of \(header.storedSize) bytes (changed since it was opened?)")
        }
        let chunk = EncodedPageChunk(header: header, stored: stored)
        if !wholeFileVerified { try chunk.verify(file: part.name, chunk: location.index) }
        return chunk
    }

    /// Checks the data CRC of every chunk without decompressing anything.
    public func verifyChunkChecksums() throws {
        for location in locations {
            // readEncodedChunk may skip the check for a file verified at
            // open; this call is asked to check, so it always does.
            try readEncodedChunk(location).verify(file: fileName(of: location), chunk: location.index)
        }
    }

    private static func scan(_ file: ImageFile, size: UInt64, name: String, part: Int) throws -> ([PageChunkLocation], PageStreamSummary) {
        var locations: [PageChunkLocation] = []
        var summary = PageStreamSummary()
        var offset: UInt64 = 0
        while offset < size {
            let index = locations.count
            let remaining = size - offset
            guard remaining >= UInt64(PageChunkHeader.fixedSize) else {
                throw ImageError(
                    file: name, chunk: index, field: "header",
                    reason: "truncated: \(remaining) bytes left at offset \(offset), a header needs \(PageChunkHeader.fixedSize)")
            }
            var bytes = try file.read(count: PageChunkHeader.fixedSize, at: offset)
            let tableSize = try PageChunkHeader.rangeTableSize(fixedPart: bytes, file: name, chunk: index)
            let headerSize = PageChunkHeader.fixedSize + tableSize
            guard remaining >= UInt64(headerSize) else {
                throw ImageError(
                    file: name, chunk: index, field: "rangeCount",
                    reason: "range table of \(tableSize) bytes runs past the end of the file (\(remaining) bytes left)")
            }
            bytes += try file.read(count: tableSize, at: offset + UInt64(PageChunkHeader.fixedSize))
            let header = try PageChunkHeader.decode(bytes, file: name, chunk: index)
            guard header.storedSize <= remaining - UInt64(headerSize) else {
                throw ImageError(
                    file: name, chunk: index, field: "storedSize",
                    reason: "\(header.storedSize) bytes run past the end of the file (\(remaining - UInt64(headerSize)) bytes left)")
            }
            let location = PageChunkLocation(index: index, offset: offset, header: header, part: part)
            let chunkCRC = CRC32.combine(CRC32.checksum(bytes), header.dataCRC32, lengthB: Int(header.storedSize))
            summary.add(header, encodedSize: Int(location.encodedSize), crc32: chunkCRC)
            locations.append(location)
            offset += location.encodedSize
        }
        return (locations, summary)
    }
}
