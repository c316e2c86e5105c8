import CSeccomp
import Glibc

/// Names x86-64 system calls by number through libseccomp's resolver, so
/// diagnostics say "nanosleep" rather than "35".
public enum SyscallNames {
    public static func name(_ number: Int64) -> String {
        guard number >= 0, number < Int64(Int32.max) else { return "no system call" }
        guard let cName = seccomp_syscall_resolve_num_arch(UInt32(SCMP_ARCH_NATIVE), Int32(number)) else {
            return "syscall \(number)"
        }
        defer { free(cName) }
        return String(cString: cName)
    }

    public static func number(_ name: String) -> Int64? {
        let nr = seccomp_syscall_resolve_name(name)
        return nr < 0 ? nil : Int64(nr)
    }
}
