import Codecs

/// Decoding happens in two steps because the range table's length is only
/// known from the fixed part: a reader fetches 40 bytes, learns how many
/// more to fetch (bounded before anything is allocated), then decodes the
/// whole header.
extension PageChunkHeader {
    /// Checks the fixed part and returns the size of the range table after it.
    public static func rangeTableSize(fixedPart bytes: [UInt8], file: String, chunk: Int) throws -> Int {
        func fail(_ field: String, _ reason: String) -> ImageError {
            ImageError(file: file, chunk: chunk, field: field, reason: reason)
        }
        guard bytes.count >= fixedSize else {
            throw fail("header", "truncated: \(bytes.count) bytes, a header needs \(fixedSize)")
        }
        guard Array(bytes[0..<4]) == magic else {
            throw fail("magic", "\(hex(bytes[0..<4])) is not \"CRPG\": not a page chunk")
        }
        var reader = LittleEndianReader(bytes, offset: 4)
        let version: UInt16 = reader.read()
        guard version == Self.version else {
            let newer = version > Self.version ? " (written by a newer crtool)" : ""
            throw fail("version", "chunk format \(version), this crtool reads \(Self.version)\(newer)")
        }
        reader = LittleEndianReader(bytes, offset: 12)
        let rangeCount: UInt32 = reader.read()
        guard rangeCount >= 1, rangeCount <= UInt32(maxRanges) else {
            throw fail("rangeCount", "\(rangeCount) is outside 1...\(maxRanges)")
        }
        return Int(rangeCount) * rangeEntrySize
    }

    /// Decodes a header (fixed part and range table, nothing more) and checks
    /// every rule, so callers may trust its sizes and addresses.
    public static func decode(_ bytes: [UInt8], file: String, chunk: Int) throws -> PageChunkHeader {
        func fail(_ field: String, _ reason: String) -> ImageError {
            ImageError(file: file, chunk: chunk, field: field, reason: reason)
        }
        let tableSize = try rangeTableSize(fixedPart: bytes, file: file, chunk: chunk)
        guard bytes.count == fixedSize + tableSize else {
            throw fail("ranges", "truncated: \(bytes.count - fixedSize) bytes of range table, \(tableSize) expected")
        }
        var reader = LittleEndianReader(bytes, offset: 6)
        let codecByte: UInt8 = reader.read()
        let flags: UInt8 = reader.read()
        let pid: Int32 = reader.read()
        let rangeCount: UInt32 = reader.read()
        let rawSize: UInt64 = reader.read()
        let storedSize: UInt64 = reader.read()
        let dataCRC32: UInt32 = reader.read()
        let headerCRC32: UInt32 = reader.read()

        let computed = CRC32.update(CRC32.checksum(bytes[0..<36]), bytes[fixedSize...])
        guard computed == headerCRC32 else {
            throw fail("headerCRC32", "stored \(hex32(headerCRC32)), computed \(hex32(computed))")
        }
        guard flags == 0 else {
            throw fail("flags", "\(hex(flags)) has unknown bits set")
        }
        guard let codec = codec(byte: codecByte) else {
            throw fail("codec", "unknown codec number \(codecByte)")
        }
        var ranges: [PageRange] = []
        ranges.reserveCapacity(Int(rangeCount))
        for _ in 0..<rangeCount {
            let address: UInt64 = reader.read()
            let pageCount: UInt32 = reader.read()
            ranges.append(PageRange(address: address, pageCount: pageCount))
        }
        let header = PageChunkHeader(
            pid: pid, codec: codec, ranges: ranges, rawSize: rawSize, storedSize: storedSize, dataCRC32: dataCRC32)
        if let violation = header.ruleViolation() {
            throw fail(violation.field, violation.reason)
        }
        return header
    }
}
