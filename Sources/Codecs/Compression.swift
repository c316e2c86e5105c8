/// Compresses `input`.
///
/// Returns nil when the result would not be smaller than the input: storing
/// such a chunk raw costs less to read back and bounds a stored chunk by its
/// raw size.
public func compress(_ input: [UInt8], codec: Codec) throws -> [UInt8]? {
    try input.withUnsafeBytes { try compress(bytes: $0, codec: codec) }
}

/// Compresses part of a larger buffer without copying it out first.
public func compress(_ input: ArraySlice<UInt8>, codec: Codec) throws -> [UInt8]? {
    try input.withUnsafeBytes { try compress(bytes: $0, codec: codec) }
}

/// Whether `compress` would try the codec on `input` at all: not for
/// codec none, nor for a chunk whose sample does not shrink. Lets a caller
/// that is short of time now keep for later only what compression is for.
public func worthCompressing(_ input: [UInt8], codec: Codec) throws -> Bool {
    guard !input.isEmpty, codec.kind != .none else { return false }
    return try input.withUnsafeBytes { try !IncompressibleSample.predicts($0, codec: codec) }
}

/// Reverses `compress`.
///
/// The output is exactly `rawSize` bytes or an error is thrown, so a damaged
/// chunk can never yield a page of the wrong length. Memory use is bounded by
/// `rawSize`, which the caller must have checked against its own limits.
public func decompress(_ input: [UInt8], codec: CodecKind, rawSize: Int) throws -> [UInt8] {
    try input.withUnsafeBytes { try decompress(bytes: $0, codec: codec, rawSize: rawSize) }
}

/// Decompresses part of a larger buffer without copying it out first.
public func decompress(_ input: ArraySlice<UInt8>, codec: CodecKind, rawSize: Int) throws -> [UInt8] {
    try input.withUnsafeBytes { try decompress(bytes: $0, codec: codec, rawSize: rawSize) }
}

private func compress(bytes: UnsafeRawBufferPointer, codec: Codec) throws -> [UInt8]? {
    guard !bytes.isEmpty, codec.kind != .none else { return nil }
    if try IncompressibleSample.predicts(bytes, codec: codec) { return nil }
    return try encode(bytes, codec: codec)
}

/// The codec's own output, or nil when it would not be smaller.
private func encode(_ bytes: UnsafeRawBufferPointer, codec: Codec) throws -> [UInt8]? {
    switch codec.kind {
    case .none: return nil
    case .zlib: return try Zlib.compress(bytes, level: codec.level)
    case .zstd: return try Zstd.compress(bytes, level: codec.level)
    }
}

/// Random-looking data (encrypted, already compressed) makes up much of
/// some processes' memory, and compressing a chunk of it only to store it
/// raw costs a codec's full time for nothing. A large chunk is first tried
/// on a few slices spread over it: if those do not shrink, neither would
/// the whole, and it is stored raw at once.
enum IncompressibleSample {
    static let minimumInput = 256 << 10
    static let slices = 4
    static let sliceSize = 16 << 10
    /// The sample must shrink below this share of its size for the whole
    /// chunk to be compressed.
    static let worthwhile = 0.97

    static func predicts(_ bytes: UnsafeRawBufferPointer, codec: Codec) throws -> Bool {
        guard bytes.count >= minimumInput else { return false }
        var sample: [UInt8] = []
        sample.reserveCapacity(slices * sliceSize)
        let spacing = (bytes.count - sliceSize) / (slices - 1)
        for index in 0..<slices {
            let start = index * spacing
            sample.append(contentsOf: bytes[start..<(start + sliceSize)])
        }
        guard let compressed = try sample.withUnsafeBytes({ try encode($0, codec: codec) }) else { return true }
        return Double(compressed.count) >= Double(sample.count) * worthwhile
    }
}

private func decompress(bytes: UnsafeRawBufferPointer, codec: CodecKind, rawSize: Int) throws -> [UInt8] {
    guard rawSize >= 0 else {
        throw CodecError.decompressionFailed(codec, reason: "negative output size \(rawSize)")
    }
    if codec == .none {
        guard bytes.count == rawSize else {
            throw CodecError.outputSizeMismatch(.none, expected: rawSize, actual: bytes.count)
        }
        return [UInt8](bytes)
    }
    guard rawSize > 0 else {
        throw CodecError.decompressionFailed(codec, reason: "\(bytes.count) bytes of data for an empty output")
    }
    // No valid stream expands further than its format allows, so a larger
    // promised size is refused before any memory is set aside for it.
    let (limit, overflow) = bytes.count.multipliedReportingOverflow(by: maximumExpansion(codec))
    guard overflow || rawSize <= limit else {
        throw CodecError.decompressionFailed(
            codec, reason: "\(bytes.count) bytes cannot expand to \(rawSize) bytes in this format")
    }
    switch codec {
    case .none: preconditionFailure("handled above")
    case .zlib: return try Zlib.decompress(bytes, rawSize: rawSize)
    case .zstd: return try Zstd.decompress(bytes, rawSize: rawSize)
    }
}

/// The most one input byte can expand to. deflate encodes at best 258 bytes
/// in one bit (about 1032:1); zstd at best a 128 KiB block as a 3-byte
/// header plus one repeated byte (32768:1).
private func maximumExpansion(_ codec: CodecKind) -> Int {
    switch codec {
    case .none: return 1
    case .zlib: return 1032
    case .zstd: return 32768
    }
}
