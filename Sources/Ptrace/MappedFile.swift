import Glibc

/// A read-only shared mapping of one of crtool's own files, whose bytes
/// only the kernel reads, as the source of copies into another process
/// (process_vm_writev, UFFDIO_COPY), or a checksum that runs under a
/// SIGBUS guard (CRC32.update(_:mapping:)); never plain Swift code.
///
/// Verifying and restoring a page file through a mapping saves the copy
/// out of the page cache into a buffer. A file that shrinks under the
/// mapping (or a page the device cannot read) makes the kernel's copy fail
/// with EFAULT and the guarded checksum return an error, where a plain
/// read would raise SIGBUS in crtool.
public final class MappedFile: @unchecked Sendable {
    public let size: Int
    let base: UnsafeRawPointer

    /// Maps the first `size` bytes of `fd`; the descriptor may be closed
    /// afterwards.
    public init(fd: Int32, size: Int, path: String) throws {
        precondition(size > 0)
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw SystemError("mmap of \(size) bytes of \(path)")
        }
        self.size = size
        base = UnsafeRawPointer(address)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), size)
    }

    /// The bytes of `range` for `body`, which must read them only through
    /// a SIGBUS guard (see the type's comment).
    public func withGuardedBytes<T>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        precondition(range.lowerBound >= 0 && range.upperBound <= size)
        return try withExtendedLifetime(self) { try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)) }
    }
}

/// Bytes to copy into another process: in an array, or in a range of a
/// mapped file.
public enum SourceBytes: Sendable {
    case array([UInt8])
    case mapped(MappedFile, range: Range<Int>)

    public var count: Int {
        switch self {
        case .array(let bytes): return bytes.count
        case .mapped(_, let range): return range.count
        }
    }

    /// The bytes' address for the kernel to read from, valid during `body`.
    func withBaseAddress<T>(_ body: (UnsafeRawPointer) throws -> T) rethrows -> T {
        switch self {
        case .array(let bytes):
            return try bytes.withUnsafeBytes { try body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!) }
        case .mapped(let file, let range):
            precondition(range.lowerBound >= 0 && range.upperBound <= file.size)
            return try withExtendedLifetime(file) { try body(file.base + range.lowerBound) }
        }
    }
}

/// A run of bytes to place in another process: where it lies in a
/// `SourceBytes`, and the address it goes to.
public typealias SourcePiece = (range: Range<Int>, address: UInt64)
