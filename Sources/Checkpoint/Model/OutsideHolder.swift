/// A process outside the image that holds the same open file, from which
/// the restore takes it back rather than make it again: a listening
/// socket that systemd (socket activation) or a supervisor passed to the
/// program and keeps open itself, or any file the tree shared outside it
/// that crtool-keeper holds for it since the dump (`--hold-external`).
public struct OutsideHolder: Codable, Equatable, Sendable {
    public var pid: Int32
    public var fd: Int32
    /// The process's start time (clock ticks after boot, /proc/PID/stat),
    /// so that another process given the same pid is not taken for it.
    public var startTime: UInt64
    /// The holder is the crtool-keeper the dump started, which the restore
    /// ends once it has taken everything back (absent: another program's
    /// process, left alone).
    public var keeper: Bool?

    public init(pid: Int32, fd: Int32, startTime: UInt64, keeper: Bool? = nil) {
        self.pid = pid
        self.fd = fd
        self.startTime = startTime
        self.keeper = keeper
    }

    public var isKeeper: Bool { keeper == true }

    public var invalidField: (field: String, reason: String)? {
        if pid < 1 { return ("pid", "\(pid) is not a process") }
        if fd < 0 { return ("fd", "\(fd) is not a descriptor") }
        return nil
    }
}
