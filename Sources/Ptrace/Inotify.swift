import Glibc

/// inotify on crtool's own descriptors, with errors that name the path.
public enum Inotify {
    public static let maskCreate: UInt32 = 0x1000_0000 // IN_MASK_CREATE (4.18)
    public static let maskAdd: UInt32 = 0x2000_0000 // IN_MASK_ADD

    /// A new inotify instance, close-on-exec, with `flags` (IN_NONBLOCK).
    public static func create(flags: Int32 = 0) throws -> Int32 {
        let fd = inotify_init1(flags | Int32(IN_CLOEXEC))
        if fd < 0 { throw SystemError("inotify_init1") }
        return fd
    }

    /// inotify_add_watch(2); returns the watch descriptor.
    public static func addWatch(_ fd: Int32, path: String, mask: UInt32) throws -> Int32 {
        let wd = inotify_add_watch(fd, path, mask)
        if wd < 0 { throw SystemError("inotify_add_watch on \(path) with mask 0x\(String(mask, radix: 16))") }
        return wd
    }

    public static func removeWatch(_ fd: Int32, wd: Int32) throws {
        if inotify_rm_watch(fd, wd) != 0 { throw SystemError("inotify_rm_watch of watch \(wd)") }
    }

    /// Drops every event queued on a non-blocking instance.
    public static func drain(_ fd: Int32) throws {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno != EAGAIN { throw SystemError("reading inotify events") }
            return
        }
    }

    /// A new empty directory only crtool knows of, for watches that exist
    /// just to use up a watch descriptor number; the caller removes it.
    public static func placeholderDirectory() throws -> String {
        try TemporaryDirectory.make(prefix: "crtool-inotify")
    }
}
