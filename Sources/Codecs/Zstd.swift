import CZstd

/// zstd through one-shot calls on pooled contexts: every page chunk is an
/// independent frame, so any chunk can be decompressed alone.
enum Zstd {
    private static let compressionContexts = ContextPool(
        make: { ZSTD_createCCtx() }, free: { ZSTD_freeCCtx($0) })
    private static let decompressionContexts = ContextPool(
        make: { ZSTD_createDCtx() }, free: { ZSTD_freeDCtx($0) })

    static func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws -> [UInt8]? {
        // Sized to the worst case so that every failure is a real error;
        // pages past what is written are never touched.
        let bound = ZSTD_compressBound(input.count)
        var failure: String?
        let result = try compressionContexts.withContext { context -> [UInt8] in
            [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
                let written = ZSTD_compressCCtx(
                    context, buffer.baseAddress, bound, input.baseAddress, input.count, level)
                if ZSTD_isError(written) != 0 {
                    failure = String(cString: ZSTD_getErrorName(written))
                    count = 0
                } else {
                    count = written
                }
            }
        }
        guard let output = result else {
            throw CodecError.compressionFailed(.zstd, reason: "cannot allocate a compression context")
        }
        if let failure { throw CodecError.compressionFailed(.zstd, reason: failure) }
        return output.count < input.count ? output : nil
    }

    static func decompress(_ input: UnsafeRawBufferPointer, rawSize: Int) throws -> [UInt8] {
        var failure: String?
        let result = try decompressionContexts.withContext { context -> [UInt8] in
            [UInt8](unsafeUninitializedCapacity: rawSize) { buffer, count in
                let written = ZSTD_decompressDCtx(
                    context, buffer.baseAddress, rawSize, input.baseAddress, input.count)
                if ZSTD_isError(written) != 0 {
                    failure = String(cString: ZSTD_getErrorName(written))
                    count = 0
                } else {
                    count = written
                }
            }
        }
        guard let output = result else {
            throw CodecError.decompressionFailed(.zstd, reason: "cannot allocate a decompression context")
        }
        if let failure { throw CodecError.decompressionFailed(.zstd, reason: failure) }
        guard output.count == rawSize else {
            throw CodecError.outputSizeMismatch(.zstd, expected: rawSize, actual: output.count)
        }
        return output
    }
}
