import CSupport
import Glibc

extension Limits {
    /// Sets another process's limit from crtool (prlimit64 on its pid):
    /// a process inside a user namespace may not raise its own hard
    /// limits, which takes CAP_SYS_RESOURCE over the host. Returns the
    /// errno of a refusal, nil once set.
    public static func set(_ limit: ResourceLimit, pid: Int32) -> Int32? {
        var values = [limit.soft, limit.hard]
        let r = values.withUnsafeMutableBytes { b in
            cr_syscall6(Int(Syscall.prlimit64), UInt64(pid), UInt64(limit.resource), UInt64(UInt(bitPattern: b.baseAddress)), 0, 0, 0)
        }
        return r < 0 ? Int32(-r) : nil
    }
}
