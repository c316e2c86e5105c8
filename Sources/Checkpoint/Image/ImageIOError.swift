import Glibc
import Ptrace

/// A system call on an image file failed.
///
/// Kept apart from `ImageError`: the image is not wrong, the machine refused
/// (a full disk, a read-only mount, missing permission), and a dump that
/// stops half way must say which path and errno so the user can act.
public struct ImageIOError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    /// The failed operation: "open", "write", "read", "mkdir", …
    public var operation: String
    public var errno: Int32
    /// What the user can do about it, when the errno alone does not say.
    public var hint: String?

    public init(path: String, operation: String, errno: Int32, hint: String? = nil) {
        self.path = path
        self.operation = operation
        self.errno = errno
        self.hint = hint
    }

    public var description: String {
        let text = "\(operation) \(path): \(ErrnoNames.describe(errno))"
        return hint.map { "\(text); \($0)" } ?? text
    }
}
