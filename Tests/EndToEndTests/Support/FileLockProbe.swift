import Glibc

/// What another opener of a file runs into: the questions the lock tests
/// ask from this process, through descriptors opened for the question
/// and closed after it. Closing a descriptor drops this process's own
/// POSIX locks on that file, so ask nothing about a file this process
/// holds such a lock on.
enum FileLockProbe {
    struct Holder: Equatable, CustomStringConvertible {
        var type: Int16
        var pid: pid_t
        var start: Int
        var length: Int
        var description: String {
            let kind = type == Int16(F_WRLCK) ? "write" : type == Int16(F_RDLCK) ? "read" : "no"
            return "\(kind) lock of pid \(pid) on \(start)+\(length)"
        }
    }

    static let getOFDLock: Int32 = 36 // F_OFD_GETLK
    static let setOFDLock: Int32 = 37 // F_OFD_SETLK

    /// The lock a write-lock request on `start`..+`length` (0: to the end)
    /// would wait for, or nil when it would be granted.
    static func holder(of path: String, start: Int, length: Int) throws -> Holder? {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path): \(errnoText())") }
        defer { close(fd) }
        var request = Glibc.flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = start
        request.l_len = length
        let r = withUnsafeMutablePointer(to: &request) { fcntl(fd, getOFDLock, UnsafeMutableRawPointer($0)) }
        guard r == 0 else { throw HarnessError("F_OFD_GETLK on \(path): \(errnoText())") }
        if request.l_type == Int16(F_UNLCK) { return nil }
        return Holder(type: request.l_type, pid: request.l_pid, start: request.l_start, length: request.l_len)
    }

    /// Whether flock(`operation` | LOCK_NB) on a new open file description
    /// of `path` would wait (the lock is released again at once).
    static func flockWouldWait(_ path: String, _ operation: Int32) throws -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path): \(errnoText())") }
        defer { close(fd) }
        if LibC.flock(fd, operation | LOCK_NB) == 0 { return false }
        guard errno == EWOULDBLOCK else { throw HarnessError("flock \(path): \(errnoText())") }
        return true
    }
}
