import CSupport
import Glibc

/// Turning a file handle (name_to_handle_at encoding, as inotify's fdinfo
/// shows it) back into a path crtool can open: open_by_handle_at on a
/// mount of the handle's file system, then the kernel's own name for the
/// opened file. Needs CAP_DAC_READ_SEARCH.
public enum FileHandles {
    /// O_PATH, hidden by glibc's headers without _GNU_SOURCE.
    static let oPath: Int32 = 0o10_000_000

    /// The major and minor numbers of a device as inotify's and fanotify's
    /// fdinfo show it (sdev), in the kernel's own encoding: major << 20 | minor.
    public static func split(kernelDevice device: UInt32) -> (major: UInt32, minor: UInt32) {
        (device >> 20, device & 0xfffff)
    }

    /// The path of the file behind `handle` on the device `major:minor`,
    /// checked to be inode `inode`. The mount is looked up in the mount
    /// table of `pid`, so the file system need not be mounted in crtool's.
    public static func path(major: UInt32, minor: UInt32, inode: UInt64, handleType: Int32, handle: [UInt8], pid: Int32) throws -> String {
        let mounts = try MountTable.read(pid: pid).filter { $0.major == major && $0.minor == minor }
        // A mount of the file system's own root reaches every file; a bind
        // mount of a subtree may not.
        guard let mount = mounts.first(where: { $0.root == "/" }) ?? mounts.first else {
            throw SystemError("finding a mount of device \(major):\(minor) in /proc/\(pid)/mountinfo", pid: pid, errno: ENOENT)
        }
        let mountPath = "/proc/\(pid)/root" + (mount.mountPoint == "/" ? "" : mount.mountPoint)
        // Not O_PATH: open_by_handle_at does not take O_PATH descriptors.
        let mountFD = open(mountPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if mountFD < 0 { throw SystemError("open \(mountPath)", pid: pid) }
        defer { close(mountFD) }
        var request = [UInt8].le(UInt32(handle.count)) + [UInt8].le(handleType) + handle
        let fd = request.withUnsafeMutableBytes { raw in
            cr_syscall6(304, UInt64(UInt32(bitPattern: mountFD)), UInt64(UInt(bitPattern: raw.baseAddress)), UInt64(oPath | O_CLOEXEC), 0, 0, 0) // open_by_handle_at
        }
        if fd < 0 { throw SystemError("open_by_handle_at for inode \(inode) on device \(major):\(minor)", pid: pid) }
        defer { close(Int32(fd)) }
        var st = stat()
        guard fstat(Int32(fd), &st) == 0, UInt64(st.st_ino) == inode else {
            throw SystemError("the file handle of inode \(inode) opened another file", pid: pid, errno: ESTALE)
        }
        return try ProcFile.link("/proc/self/fd/\(fd)")
    }

    /// The handle of the file `path` leads to, followed: of a /proc/PID/fd
    /// link, the open file's, whatever its names are now.
    public static func handle(of path: String, pid: Int32) throws -> (type: Int32, bytes: [UInt8]) {
        let maxHandle = 128
        var request = [UInt8].le(UInt32(maxHandle)) + [UInt8](repeating: 0, count: 4 + maxHandle)
        var mountID: Int32 = 0
        let r = path.withCString { name in
            request.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &mountID) { mount in
                    cr_syscall6(303, UInt64(bitPattern: Int64(AT_FDCWD)), UInt64(UInt(bitPattern: name)),
                                UInt64(UInt(bitPattern: raw.baseAddress)), UInt64(UInt(bitPattern: mount)),
                                UInt64(AT_SYMLINK_FOLLOW), 0) // name_to_handle_at
                }
            }
        }
        if r < 0 { throw SystemError("name_to_handle_at \(path)", pid: pid) }
        let count = Int(request.withUnsafeBytes { $0.load(as: UInt32.self) })
        let type = request.withUnsafeBytes { $0.load(fromByteOffset: 4, as: Int32.self) }
        return (type, Array(request[8..<(8 + min(count, maxHandle))]))
    }
}
