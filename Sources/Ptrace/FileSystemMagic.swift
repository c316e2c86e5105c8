import CSupport
import Glibc

/// The kind of file system a file is on (statfs f_type), for the few
/// objects recognized by it: secret memory has a path that looks like a
/// deleted file's.
public enum FileSystemMagic {
    /// SECRETMEM_MAGIC: memory of memfd_secret(2).
    public static let secretMemory = 0x5345_434d
    /// TMPFS_MAGIC: tmpfs, and the internal mount memfds live on.
    public static let tmpfs = 0x0102_1994
    /// HUGETLBFS_MAGIC: memfds made with MFD_HUGETLB.
    public static let hugetlbfs = 0x9584_58f6
    /// DEVPTS_SUPER_MAGIC: a devpts instance, whose own ptmx a pty master
    /// may be opened on.
    public static let devpts = 0x1cd1
    /// MQUEUE_MAGIC: the file system POSIX message queues live on.
    public static let mqueue = 0x1980_0202

    /// f_type of the file system `path` is on, nil when it cannot be read.
    public static func of(_ path: String) -> Int? {
        let magic = cr_fs_magic(path)
        return magic < 0 ? nil : Int(magic)
    }

    /// f_type of the file system the file `fd` is open on, nil when it
    /// cannot be read.
    public static func of(fd: Int32) -> Int? {
        var blockSize: UInt64 = 0
        let magic = cr_fd_fs_magic(fd, &blockSize)
        return magic < 0 ? nil : Int(magic)
    }
}
