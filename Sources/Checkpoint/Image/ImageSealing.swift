import Codecs

/// Recomputes the checksums of image files that were changed on purpose,
/// so that a reader judges their content and not just their CRCs: the
/// image fuzzers damage files behind the checksums this way, to reach the
/// parsers and decompressors that a CRC mismatch would otherwise shield.
/// Dump and restore never call it.
public enum ImageSealing {
    /// Where a chunk header keeps what sealing reads and writes (the
    /// layout is in PageChunkHeader.swift).
    private static let rangeCountAt = 12, storedSizeAt = 24, dataCRCAt = 32, headerCRCAt = 36

    /// `bytes`, a manifest.json, with its own checksum field filled in.
    public static func sealManifest(_ bytes: [UInt8]) throws -> [UInt8] {
        try ManifestFile.seal(bytes)
    }

    /// manifest.json for `manifest` with `name` recorded as holding `bytes`.
    public static func manifest(_ manifest: Manifest, recording name: String, as bytes: [UInt8]) throws -> [UInt8] {
        var changed = manifest
        changed.files[name] = FileChecksum(size: UInt64(bytes.count), crc32: CRC32.checksum(bytes))
        return try ManifestFile.encode(changed)
    }

    /// Walks a page file chunk by chunk as its sizes say and gives each
    /// chunk it reaches whole its header and data CRCs; stops at the first
    /// chunk whose range table or data run past the end.
    public static func sealChunks(_ bytes: inout [UInt8]) {
        var start = 0
        while start + PageChunkHeader.fixedSize <= bytes.count {
            let rangeCount = Int(field(bytes, at: start + rangeCountAt, width: 4))
            let storedSize = field(bytes, at: start + storedSizeAt, width: 8)
            guard rangeCount <= PageChunkHeader.maxRanges else { return }
            let dataStart = start + PageChunkHeader.fixedSize + rangeCount * PageChunkHeader.rangeEntrySize
            guard dataStart <= bytes.count, storedSize <= UInt64(bytes.count - dataStart) else { return }
            let dataEnd = dataStart + Int(storedSize)
            setField(&bytes, at: start + dataCRCAt, width: 4, UInt64(CRC32.checksum(bytes[dataStart..<dataEnd])))
            sealChunkHeader(&bytes, at: start)
            start = dataEnd
        }
    }

    /// Gives the chunk header at `start` the CRC of its fixed part and its
    /// range table, as long as the table fits in `bytes`.
    public static func sealChunkHeader(_ bytes: inout [UInt8], at start: Int) {
        guard start + PageChunkHeader.fixedSize <= bytes.count else { return }
        let rangeCount = Int(field(bytes, at: start + rangeCountAt, width: 4))
        let tableEnd = start + PageChunkHeader.fixedSize + rangeCount * PageChunkHeader.rangeEntrySize
        guard rangeCount <= PageChunkHeader.maxRanges, tableEnd <= bytes.count else { return }
        let crc = CRC32.update(CRC32.checksum(bytes[start..<start + headerCRCAt]), bytes[(start + PageChunkHeader.fixedSize)..<tableEnd])
        setField(&bytes, at: start + headerCRCAt, width: 4, UInt64(crc))
    }

    /// A little-endian field of `width` bytes at `offset`.
    public static func field(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64 {
        (0..<width).reversed().reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    public static func setField(_ bytes: inout [UInt8], at offset: Int, width: Int, _ value: UInt64) {
        for index in 0..<width { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}
