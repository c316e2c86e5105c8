import Glibc

/// A failed system call on behalf of a process: what was attempted, on
/// which pid, and the errno the kernel gave. Every layer above reports
/// these verbatim, so they read as sentences.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var pid: Int32?
    public var errno: Int32

    public init(_ operation: String, pid: Int32? = nil, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.pid = pid
        self.errno = errno
    }

    public var errnoName: String { ErrnoNames.name(errno) }

    public var description: String {
        let subject = pid.map { " for pid \($0)" } ?? ""
        return "\(operation)\(subject) failed: \(String(cString: strerror(errno))) (\(errnoName))"
    }
}

/// A condition found while controlling a process that is not an errno:
/// an unexpected stop, a process that vanished, a layout that does not fit.
public struct TraceError: Error, CustomStringConvertible, Sendable {
    public var pid: Int32
    public var message: String
    public init(pid: Int32, _ message: String) {
        self.pid = pid
        self.message = message
    }
    public var description: String { "pid \(pid): \(message)" }
}

enum ErrnoNames {
    static func name(_ code: Int32) -> String {
        switch code {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case ESRCH: return "ESRCH"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case EBADF: return "EBADF"
        case ECHILD: return "ECHILD"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case EROFS: return "EROFS"
        case ENOSYS: return "ENOSYS"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case EOVERFLOW: return "EOVERFLOW"
        case ENXIO: return "ENXIO"
        case EMFILE: return "EMFILE"
        default: return "errno \(code)"
        }
    }
}
