import Glibc

/// A new empty directory under /tmp, made with mkdtemp, for crtool's own
/// use for a while; the caller removes it.
public enum TemporaryDirectory {
    /// `prefix` names what it is for ("crtool-root"); six random
    /// characters follow it.
    public static func make(prefix: String) throws -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp /tmp/\(prefix)-XXXXXX") }
        return String(cString: made)
    }
}
