import CZlib

/// CRC-32 (the zlib/gzip polynomial), computed by zlib so that checksumming
/// gigabytes of pages runs at memory speed rather than at a Swift loop's.
///
/// The initial value is 0, as with zlib's `crc32(0, NULL, 0)`.
public enum CRC32 {
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        update(0, bytes)
    }

    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        update(0, bytes)
    }

    /// Continues `crc` over `bytes`, as if they followed the data it covers.
    public static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, buffer: $0) }
    }

    public static func update(_ crc: UInt32, _ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, buffer: $0) }
    }

    /// The CRC of A followed by B, from the CRCs of A and B alone: lets chunks
    /// written by different threads add up to a whole-file checksum without
    /// reading the file again.
    public static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthB: Int) -> UInt32 {
        guard lengthB > 0 else { return crcA }
        return UInt32(truncatingIfNeeded: crc32_combine(uLong(crcA), uLong(crcB), numericCast(lengthB)))
    }

    private static func update(_ crc: UInt32, buffer: UnsafeRawBufferPointer) -> UInt32 {
        // zlib returns 0 for a NULL buffer whatever the running value is.
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return crc }
        let result = crc32_z(uLong(crc), base.assumingMemoryBound(to: Bytef.self), buffer.count)
        return UInt32(truncatingIfNeeded: result)
    }
}
