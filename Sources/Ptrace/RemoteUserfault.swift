import CSupport
import Glibc

/// A userfaultfd on another process's memory, held by crtool, used to fill
/// untouched anonymous pages with UFFDIO_COPY.
///
/// process_vm_writev into an untouched page first faults in a page the
/// kernel clears, then copies over the zeros; UFFDIO_COPY allocates the
/// page and copies into it directly, which saves clearing every page a
/// restore writes. The same descriptor is what lazy restores serve page
/// faults on.
public final class RemoteUserfault: @unchecked Sendable {
    public let pid: Int32
    private let fd: Int32

    /// Takes ownership of `fd`, a userfaultfd the process at `pid` created
    /// (so it covers that process's memory) and crtool duplicated, and
    /// completes the API handshake.
    public init(adopting fd: Int32, pid: Int32) throws {
        self.pid = pid
        self.fd = fd
        let r = cr_uffd_api(fd)
        if r < 0 {
            close(fd)
            throw SystemError("UFFDIO_API on the userfaultfd of pid \(pid)", pid: pid, errno: -r)
        }
    }

    deinit {
        close(fd)
    }

    /// A userfaultfd on this process's own memory.
    public static func ofThisProcess() throws -> RemoteUserfault {
        let fd = cr_syscall6(Int(Syscall.userfaultfd), UInt64(O_CLOEXEC | O_NONBLOCK), 0, 0, 0, 0, 0)
        guard fd >= 0 else { throw SystemError("userfaultfd", pid: getpid()) }
        return try RemoteUserfault(adopting: Int32(fd), pid: getpid())
    }

    /// Makes missing pages of `range` (page-aligned, one or more whole
    /// anonymous VMAs) fillable by `copy`.
    public func registerMissing(_ range: Range<UInt64>) throws {
        let r = cr_uffd_register_missing(fd, range.lowerBound, UInt64(range.count))
        if r < 0 { throw SystemError("UFFDIO_REGISTER of \(range.addressDescription)", pid: pid, errno: -r) }
    }

    public func unregister(_ range: Range<UInt64>) throws {
        let r = cr_uffd_unregister(fd, range.lowerBound, UInt64(range.count))
        if r < 0 { throw SystemError("UFFDIO_UNREGISTER of \(range.addressDescription)", pid: pid, errno: -r) }
    }

    /// Copies `source[range]` into the missing pages at `address`, inside
    /// one registered range. A page already present is an error (EEXIST):
    /// nothing is overwritten this way.
    public func copy(_ source: SourceBytes, range: Range<Int>, to address: UInt64) throws {
        try copy(source, pieces: [(range, address)])
    }

    /// Copies each piece as `copy(_:range:to:)` does, in order, holding the
    /// source once for all of them: a chunk of scattered pages costs one
    /// ioctl per piece and no other work per piece.
    public func copy(_ source: SourceBytes, pieces: [SourcePiece]) throws {
        try source.withBaseAddress { base in
            for piece in pieces {
                precondition(piece.range.lowerBound >= 0 && piece.range.upperBound <= source.count)
                try copy(from: base + piece.range.lowerBound, count: piece.range.count, to: piece.address)
            }
        }
    }

    private func copy(from start: UnsafeRawPointer, count: Int, to address: UInt64) throws {
        var done = 0
        var stalls = 0
        while done < count {
            var copied: Int64 = 0
            let r = cr_uffd_copy(fd, address + UInt64(done), start + done, UInt64(count - done), &copied)
            done += Int(copied)
            stalls = copied > 0 ? 0 : stalls + 1
            // EAGAIN: the address space changed during the copy; go on
            // from where it stopped, unless it keeps making no progress.
            if r == 0 || (r == -EAGAIN && stalls < 100) { continue }
            throw SystemError("UFFDIO_COPY of \(count - done) bytes at 0x\(String(address + UInt64(done), radix: 16))", pid: pid, errno: -r)
        }
    }
}
