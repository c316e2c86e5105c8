import CZlib

/// zlib through its one-shot calls: deflate state setup is negligible next
/// to compressing a megabyte at zlib's speed, so no contexts are kept.
enum Zlib {
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws -> [UInt8]? {
        // One byte less than the input: zlib then reports Z_BUF_ERROR exactly
        // when the result would not shrink, and no worst-case buffer is needed.
        let capacity = input.count - 1
        guard capacity > 0 else { return nil }
        var status: Int32 = Z_OK
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            var written = uLongf(capacity)
            status = compress2(
                buffer.baseAddress, &written,
                input.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(input.count), level)
            count = status == Z_OK ? Int(written) : 0
        }
        switch status {
        case Z_OK: return output
        case Z_BUF_ERROR: return nil
        default: throw CodecError.compressionFailed(.zlib, reason: message(status))
        }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, rawSize: Int) throws -> [UInt8] {
        var status: Int32 = Z_OK
        var consumed = uLong(input.count)
        let output = [UInt8](unsafeUninitializedCapacity: rawSize) { buffer, count in
            var written = uLongf(rawSize)
            status = uncompress2(
                buffer.baseAddress, &written,
                input.baseAddress?.assumingMemoryBound(to: Bytef.self), &consumed)
            count = status == Z_OK ? Int(written) : 0
        }
        switch status {
        case Z_OK: break
        case Z_BUF_ERROR:
            throw CodecError.decompressionFailed(.zlib, reason: "data decompresses to more than \(rawSize) bytes")
        default:
            throw CodecError.decompressionFailed(.zlib, reason: message(status))
        }
        guard output.count == rawSize else {
            throw CodecError.outputSizeMismatch(.zlib, expected: rawSize, actual: output.count)
        }
        guard consumed == uLong(input.count) else {
            throw CodecError.decompressionFailed(
                .zlib, reason: "\(input.count - Int(consumed)) bytes of trailing data after the stream")
        }
        return output
    }

    private static func message(_ status: Int32) -> String {
        switch status {
        case Z_DATA_ERROR: return "corrupt or truncated data (Z_DATA_ERROR)"
        case Z_MEM_ERROR: return "out of memory (Z_MEM_ERROR)"
        case Z_BUF_ERROR: return "output buffer too small (Z_BUF_ERROR)"
        case Z_STREAM_ERROR: return "invalid parameter (Z_STREAM_ERROR)"
        default: return "zlib status \(status)"
        }
    }
}
