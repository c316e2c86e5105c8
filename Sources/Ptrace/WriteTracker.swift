import CSupport
import Glibc

/// Tells which pages of another process were written since a moment,
/// without soft-dirty bits (which this kernel may lack): a userfaultfd
/// of that process in asynchronous write-protect mode. Each page of a
/// tracked range is write-protected; the first write to it after that is
/// let through by the kernel itself, which only marks the page written,
/// so the process never waits on crtool. `Pagemap.unwritten` reads the
/// marks back; `protect` starts a new round.
///
/// The tracking lasts as long as some process holds the descriptor.
public final class WriteTracker: @unchecked Sendable {
    public let pid: Int32
    /// crtool's descriptor of the userfaultfd.
    public let descriptor: Int32

    /// Takes ownership of `fd`, a userfaultfd the process at `pid` created
    /// (with UFFD_USER_MODE_ONLY, which unprivileged processes may make;
    /// the kernel resolves asynchronous faults of any mode itself) and
    /// crtool duplicated, and asks for asynchronous write protection.
    public init(adopting fd: Int32, pid: Int32) throws {
        self.pid = pid
        descriptor = fd
        let r = cr_uffd_api_write_tracking(fd)
        if r < 0 {
            close(fd)
            throw SystemError("UFFDIO_API (asynchronous write protection) on the userfaultfd of pid \(pid)", pid: pid, errno: -r)
        }
    }

    /// Takes ownership of `fd`, a copy of a tracker's userfaultfd made
    /// earlier (`init(adopting:pid:)`), to track on with it.
    public init(takingOver fd: Int32, pid: Int32) {
        self.pid = pid
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Flags the userfaultfd syscall takes for a tracker.
    public static let creationFlags = UInt64(O_CLOEXEC | O_NONBLOCK) | 1 // UFFD_USER_MODE_ONLY

    /// Starts tracking `range`, one whole VMA: registered, then every page
    /// of it protected.
    public func track(_ range: Range<UInt64>) throws {
        try register(range)
        try protect(range)
    }

    /// Registers `range` with this tracker, leaving its pages as they are.
    /// Registering a range again with the tracker that has it changes
    /// nothing; a range another userfaultfd has fails with EBUSY, which
    /// is how a tracker tells the ranges that are its own.
    public func register(_ range: Range<UInt64>) throws {
        let r = cr_uffd_register_wp(descriptor, range.lowerBound, UInt64(range.count))
        if r < 0 { throw SystemError("UFFDIO_REGISTER (write protection) of \(range.addressDescription)", pid: pid, errno: -r) }
    }

    /// Protects every page of `range` again: what is written after this
    /// is what the next scan reports. The kernel does not check that the
    /// range is this tracker's: protect only what `register` accepted.
    public func protect(_ range: Range<UInt64>) throws {
        let r = cr_uffd_writeprotect(descriptor, range.lowerBound, UInt64(range.count))
        if r < 0 { throw SystemError("UFFDIO_WRITEPROTECT of \(range.addressDescription)", pid: pid, errno: -r) }
    }
}
