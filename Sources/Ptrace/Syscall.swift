/// x86-64 system call numbers crtool injects or calls. Kept here, not
/// resolved at run time, because they are ABI and never change.
public enum Syscall {
    public static let read: Int64 = 0
    public static let write: Int64 = 1
    public static let close: Int64 = 3
    public static let lseek: Int64 = 8
    public static let mmap: Int64 = 9
    public static let mprotect: Int64 = 10
    public static let munmap: Int64 = 11
    public static let brk: Int64 = 12
    public static let rtSigaction: Int64 = 13
    public static let rtSigprocmask: Int64 = 14
    public static let mremap: Int64 = 25
    public static let madvise: Int64 = 28
    public static let dup2: Int64 = 33
    public static let getitimer: Int64 = 36
    public static let setitimer: Int64 = 38
    public static let getpid: Int64 = 39
    public static let fcntl: Int64 = 72
    public static let chdir: Int64 = 80
    public static let fchdir: Int64 = 81
    public static let umask: Int64 = 95
    public static let setresuid: Int64 = 117
    public static let setresgid: Int64 = 119
    public static let setgroups: Int64 = 116
    public static let sigaltstack: Int64 = 131
    public static let personality: Int64 = 135
    public static let prctl: Int64 = 157
    public static let chroot: Int64 = 161
    public static let gettid: Int64 = 186
    public static let setTidAddress: Int64 = 218
    public static let rtTgsigqueueinfo: Int64 = 297
    public static let rtSigqueueinfo: Int64 = 129
    public static let setRobustList: Int64 = 273
    public static let getRobustList: Int64 = 274
    public static let dup3: Int64 = 292
    public static let prlimit64: Int64 = 302
    public static let rseq: Int64 = 334
    public static let openat: Int64 = 257
    public static let clone3: Int64 = 435
    public static let closeRange: Int64 = 436
    public static let pidfdOpen: Int64 = 434
    public static let pidfdGetfd: Int64 = 438
    public static let kcmp: Int64 = 312
    public static let restartSyscall: Int64 = 219
}
