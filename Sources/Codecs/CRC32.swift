import CChecksum
import CZlib

/// CRC-32 (the zlib/gzip polynomial). Every stored byte of an image is
/// checksummed when it is written and again when it is read, so on CPUs
/// with carry-less multiplication long buffers are folded 64 bytes a step
/// (several times zlib's table speed), or 256 where it works on 512-bit
/// registers (three times more again); zlib does the rest, and combining.
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

    /// Whether long buffers take the folding path; zlib's is the reference
    /// the folding one is tested against.
    public static let folds = cr_crc32_folding_available() != 0

    /// Whether long buffers fold 256 bytes a step in 512-bit registers
    /// (AVX-512 with VPCLMULQDQ), about three times the 64-byte step's rate.
    public static let foldsWide = cr_crc32_wide_folding_available() != 0

    /// Runs `body` with the 512-bit folding path allowed or not (where the
    /// CPU has it), so that tests check both paths against zlib.
    public static func withWideFolding<T>(_ allowed: Bool, _ body: () throws -> T) rethrows -> T {
        cr_crc32_use_wide_folding(allowed ? 1 : 0)
        defer { cr_crc32_use_wide_folding(1) }
        return try body()
    }

    /// Below this, folding's setup costs more than it saves.
    static let foldingThreshold = 256

    public static func update(_ crc: UInt32, buffer: UnsafeRawBufferPointer) -> UInt32 {
        // zlib returns 0 for a NULL buffer whatever the running value is.
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return crc }
        if folds, buffer.count >= foldingThreshold {
            return cr_crc32_folding(crc, base, buffer.count)
        }
        return zlibUpdate(crc, base: base, count: buffer.count)
    }

    /// Continues `crc` over bytes of a file mapping, which may vanish while
    /// they are read (the file truncated under the mapping, a page the
    /// device could not read in): a failure with EFAULT then, where a plain
    /// read would have raised SIGBUS, or with another errno when the
    /// SIGBUS guard could not be set up.
    public static func update(_ crc: UInt32, mapping buffer: UnsafeRawBufferPointer) -> Result<UInt32, MappingReadFailure> {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .success(crc) }
        let function: cr_crc32_function = folds ? cr_crc32_folding : { crc, data, count in
            CRC32.zlibUpdate(crc, base: data!, count: count)
        }
        var result: UInt32 = 0
        let r = cr_crc32_guarded(function, crc, base, buffer.count, &result)
        return r == 0 ? .success(result) : .failure(MappingReadFailure(errno: -r))
    }

    /// zlib's own CRC-32, whatever the CPU has.
    public static func zlibUpdate(_ crc: UInt32, buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return crc }
        return zlibUpdate(crc, base: base, count: buffer.count)
    }

    private static func zlibUpdate(_ crc: UInt32, base: UnsafeRawPointer, count: Int) -> UInt32 {
        let result = crc32_z(uLong(crc), base.assumingMemoryBound(to: Bytef.self), count)
        return UInt32(truncatingIfNeeded: result)
    }
}

/// Why bytes of a file mapping could not be read: EFAULT when a page of it
/// was gone (SIGBUS), another errno when the guard could not be set up.
public struct MappingReadFailure: Error, Equatable {
    public let errno: Int32
}
