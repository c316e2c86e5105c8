import CSupport
import Glibc

/// fanotify on crtool's own descriptors, through its system calls (glibc's
/// Swift module leaves sys/fanotify.h out), with errors that name the path.
public enum Fanotify {
    public static let classMask: UInt32 = 0x0c // FAN_CLASS_NOTIF 0, _CONTENT 4, _PRE_CONTENT 8
    public static let classContent: UInt32 = 0x04
    public static let cloexec: UInt32 = 0x01
    public static let nonblock: UInt32 = 0x02

    public static let markAdd: UInt32 = 0x01
    public static let markDontFollow: UInt32 = 0x04
    public static let markMount: UInt32 = 0x10
    public static let markIgnoredMask: UInt32 = 0x20
    public static let markFilesystem: UInt32 = 0x100
    public static let markIgnore: UInt32 = 0x400
    public static let markIgnoredSurviveModify: UInt32 = 0x40
    public static let markEvictable: UInt32 = 0x200

    /// fanotify_init(2): a new group, its descriptor close-on-exec.
    public static func create(flags: UInt32, eventFlags: UInt32) throws -> Int32 {
        let fd = cr_syscall6(300, UInt64(flags | cloexec), UInt64(eventFlags), 0, 0, 0, 0) // fanotify_init
        if fd < 0 {
            throw SystemError("fanotify_init with flags 0x\(String(flags, radix: 16)) and event flags 0x\(String(eventFlags, radix: 16))")
        }
        return Int32(fd)
    }

    /// fanotify_mark(2) on `path`, followed.
    public static func mark(_ fd: Int32, flags: UInt32, mask: UInt64, path: String) throws {
        let r = path.withCString { name in
            cr_syscall6(301, UInt64(UInt32(bitPattern: fd)), UInt64(flags), mask,
                        UInt64(bitPattern: Int64(AT_FDCWD)), UInt64(UInt(bitPattern: name)), 0) // fanotify_mark
        }
        if r < 0 {
            throw SystemError("fanotify_mark on \(path) with flags 0x\(String(flags, radix: 16)) and mask 0x\(String(mask, radix: 16))")
        }
    }
}
