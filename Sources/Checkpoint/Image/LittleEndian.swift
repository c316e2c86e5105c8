/// Fixed-width little-endian fields for binary headers.
///
/// Done with shifts on arrays rather than by reinterpreting memory: headers
/// are a few dozen bytes, and this keeps the image code free of raw pointers.
extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var remaining = value
        for _ in 0..<(T.bitWidth / 8) {
            append(UInt8(truncatingIfNeeded: remaining))
            remaining = remaining >> 8
        }
    }
}

/// Reads fields in order from a byte array whose length the caller has
/// already checked, so reads never run past the end.
struct LittleEndianReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) -> T {
        var value: T = 0
        let width = T.bitWidth / 8
        for index in stride(from: width - 1, through: 0, by: -1) {
            value = value << 8 | T(truncatingIfNeeded: bytes[offset + index])
        }
        offset += width
        return value
    }

    mutating func readBytes(_ count: Int) -> [UInt8] {
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}
