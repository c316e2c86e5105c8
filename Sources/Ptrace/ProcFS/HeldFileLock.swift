/// One lock a file description holds, as a "lock:" line of
/// /proc/PID/fdinfo/FD shows it:
///
///     lock:	1: POSIX  ADVISORY  WRITE 1234 fe:00:16220964 0 99
///     lock:	1: OFDLCK ADVISORY  WRITE -1 fe:00:16220964 100 149
///     lock:	1: FLOCK  ADVISORY  READ 1234 fe:00:16220978 0 EOF
///     lock:	1: LEASE  ACTIVE    READ 1234 fe:00:16220978 0 EOF
///     lock:	1: LEASE  BREAKING  UNLCK 1234 fe:00:16220978 0 EOF
///
/// The kernel lists only the locks of that descriptor's own open file
/// description (flock, OFD, leases) and the process's own record locks
/// taken through it (POSIX), so every line is the process's to keep.
public struct HeldFileLock: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// fcntl F_SETLK: owned by the process, released when it closes
        /// any descriptor of the file.
        case posix
        /// fcntl F_OFD_SETLK: owned by the open file description.
        case openFileDescription
        /// flock(2): owned by the open file description, whole file.
        case flock
        /// F_SETLEASE (or a delegation an NFS server gave): the kernel
        /// tells the holder when another process opens the file.
        case lease
    }

    public enum Access: String, Sendable {
        case read, write
        /// A lease being broken to nothing shows UNLCK.
        case unlocked
    }

    public var kind: Kind
    public var access: Access
    /// The owner the kernel shows: the process for POSIX and flock, -1 for OFD.
    public var pid: Int32
    /// The inode number of the locked file.
    public var inode: UInt64
    public var start: Int64
    /// The last byte, nil for "to the end of the file, however long".
    public var end: Int64?
    /// A lease another opener is breaking (BREAKING): `access` is then
    /// what the break leaves, a read lease or none (UNLCK).
    public var breaking: Bool

    public init(kind: Kind, access: Access, pid: Int32, inode: UInt64, start: Int64, end: Int64?, breaking: Bool = false) {
        self.kind = kind
        self.access = access
        self.pid = pid
        self.inode = inode
        self.start = start
        self.end = end
        self.breaking = breaking
    }

    /// Parses what follows "lock:" on one fdinfo line.
    public static func parse(_ text: String, file: String = "fdinfo") throws -> HeldFileLock {
        func bad(_ reason: String) -> ProcParseError { ProcParseError(file: file, line: "lock:\t" + text, reason: reason) }
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        // "1:" numbers the locks of one descriptor.
        guard let first = words.first, first.hasSuffix(":") else { throw bad("no lock number") }
        words.removeFirst()
        guard let kindWord = words.first else { throw bad("no lock kind") }
        let kind: Kind
        switch kindWord {
        case "POSIX": kind = .posix
        case "OFDLCK": kind = .openFileDescription
        case "FLOCK": kind = .flock
        case "LEASE", "DELEG": kind = .lease
        default: throw bad("unknown lock kind \(kindWord)")
        }
        // POSIX, OFD and flock locks say ADVISORY; a lease says ACTIVE,
        // BREAKING or BREAKER. Either way one word, then the access.
        guard words.count == 7 else { throw bad("expected 7 fields after the number, found \(words.count)") }
        let access: Access
        switch words[2] {
        case "READ": access = .read
        case "WRITE": access = .write
        case "UNLCK": access = .unlocked
        default: throw bad("unknown lock access \(words[2])")
        }
        guard let pid = Int32(words[3]) else { throw bad("bad owner pid \(words[3])") }
        // MAJOR:MINOR:INODE, the inode in decimal.
        guard let inode = words[4].split(separator: ":").last.flatMap({ UInt64($0) }) else { throw bad("bad file \(words[4])") }
        guard let start = Int64(words[5]), start >= 0 else { throw bad("bad start \(words[5])") }
        let end: Int64?
        if words[6] == "EOF" {
            end = nil
        } else {
            guard let last = Int64(words[6]), last >= start else { throw bad("bad end \(words[6])") }
            end = last
        }
        return HeldFileLock(kind: kind, access: access, pid: pid, inode: inode, start: start, end: end,
                            breaking: words[1] == "BREAKING")
    }

    /// Every lock held on the system (/proc/locks, same line format),
    /// without the requests waiting for one ("1: -> POSIX ...").
    public static func systemWide() throws -> [HeldFileLock] {
        try ProcFile.text("/proc/locks").split(separator: "\n")
            .filter { !$0.contains("->") }
            .map { try parse(String($0), file: "/proc/locks") }
    }
}
