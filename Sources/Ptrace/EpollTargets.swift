import CSupport
import Glibc

extension KernelCompare {
    /// Whether `fd` of `pid` is the very file the epoll instance `epollFD`
    /// of `pid` watches under the number `fd` (kcmp KCMP_EPOLL_TFD). An
    /// epoll watch outlives the descriptor it was added for, so the number
    /// may since have been closed or reused for another file.
    public static func epollWatches(pid: Int32, epollFD: Int32, fd: Int32) throws -> Bool {
        // struct kcmp_epoll_slot { __u32 efd; __u32 tfd; __u64 toff; }
        var slot = [UInt8].le(UInt32(bitPattern: epollFD), UInt32(bitPattern: fd)) + [UInt8].le(UInt64(0))
        let r = slot.withUnsafeMutableBytes { raw in
            cr_syscall6(Int(Syscall.kcmp), UInt64(pid), UInt64(pid), 7, UInt64(UInt32(bitPattern: fd)), UInt64(UInt(bitPattern: raw.baseAddress)), 0)
        }
        if r < 0 {
            if errno == EBADF || errno == ENOENT { return false }
            throw SystemError("kcmp of epoll fd \(epollFD) and fd \(fd)", pid: pid)
        }
        return r == 0
    }
}
