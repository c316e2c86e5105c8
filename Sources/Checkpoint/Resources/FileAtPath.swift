import Glibc

/// What stands at a path a restore will open again, by stat(2): nothing
/// (with the errno), something other than a regular file, or a regular
/// file of some length, last written at some time. Both checks of the files an image needs from the
/// host (`MappedFiles`, `OpenRegularFiles`) start here.
enum FileAtPath {
    case missing(errno: Int32)
    case notRegular
    case regular(length: Int64, modified: Int64)

    init(_ path: String) {
        var info = stat()
        if stat(path, &info) != 0 {
            self = .missing(errno: errno)
        } else if info.st_mode & S_IFMT != S_IFREG {
            self = .notRegular
        } else {
            self = .regular(length: Int64(info.st_size), modified: Self.nanoseconds(info.st_mtim))
        }
    }

    /// A stat time as nanoseconds since the epoch.
    static func nanoseconds(_ time: timespec) -> Int64 {
        Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
