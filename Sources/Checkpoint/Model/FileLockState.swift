/// A lock an open file held at the dump (see Resources/FileLocks.swift):
/// taken again by the restored process through the same descriptor.
public struct FileLockState: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// fcntl F_SETLK: the process's own record lock.
        case posix
        /// fcntl F_OFD_SETLK: a record lock of the open file description.
        case ofd
        /// flock(2): a whole-file lock of the open file description.
        case flock
        /// fcntl F_SETLEASE: a lease of the open file description, under
        /// which the kernel signals the holder when another process opens
        /// the file (for writing, for a read lease).
        case lease
    }

    public enum Access: String, Codable, Sendable {
        case read, write
    }

    public var kind: Kind
    public var access: Access
    /// First byte; flock locks and leases always cover the whole file (0, no end).
    public var start: Int64
    /// Last byte; absent for a lock that runs to the end of the file,
    /// however long it grows.
    public var end: Int64?

    public init(kind: Kind, access: Access, start: Int64, end: Int64?) {
        self.kind = kind
        self.access = access
        self.start = start
        self.end = end
    }
}

extension FileLockState {
    /// A range the kernel could have shown: it prints a lock to the end
    /// of the file as no end, so a real end is below Int64.max and the
    /// length (end - start + 1) fits in off_t.
    var hasValidRange: Bool {
        guard start >= 0 else { return false }
        guard let end else { return true }
        return end >= start && end < Int64.max
    }

    /// The length field of struct flock: 0 means to the end of the file.
    var length: Int64 { end.map { $0 - start + 1 } ?? 0 }
}

extension FileLockState: CustomStringConvertible {
    /// "write lock (fcntl F_SETLK, bytes 0-99)", "shared flock".
    public var description: String {
        let range = end.map { "bytes \(start)-\($0)" } ?? "bytes \(start) to the end"
        switch kind {
        case .posix: return "\(access.rawValue) lock (fcntl F_SETLK, \(range))"
        case .ofd: return "\(access.rawValue) lock (fcntl F_OFD_SETLK, \(range))"
        case .flock: return "\(access == .write ? "exclusive" : "shared") flock"
        case .lease: return "\(access.rawValue) lease (F_SETLEASE)"
        }
    }
}
