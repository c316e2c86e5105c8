import CSupport
import Glibc

/// eventfd(2) for crtool's own use: an eventfd with any 64-bit counter.
public enum EventFDOps {
    static let semaphore: Int32 = 1 // EFD_SEMAPHORE

    /// A new eventfd holding `count`. eventfd2 takes only a 32-bit start
    /// value, so the counter is added with a write, as a program would.
    public static func create(count: UInt64, semaphore isSemaphore: Bool, flags: Int32) throws -> Int32 {
        let fd = Int32(cr_syscall6(290, 0, UInt64(UInt32(bitPattern: flags | (isSemaphore ? semaphore : 0))), 0, 0, 0, 0)) // eventfd2
        if fd < 0 { throw SystemError("eventfd") }
        if count > 0 {
            var value = count
            let n = withUnsafeBytes(of: &value) { Glibc.write(fd, $0.baseAddress, 8) }
            if n != 8 {
                let e = errno
                close(fd)
                throw SystemError("setting an eventfd counter to \(count)", errno: e)
            }
        }
        return fd
    }
}
