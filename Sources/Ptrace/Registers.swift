import CSupport

/// The general-purpose registers of one x86-64 thread, as the kernel's
/// user_regs_struct holds them. Codable so images can keep them by name.
public struct Registers: Codable, Equatable, Sendable {
    public var r15: UInt64 = 0, r14: UInt64 = 0, r13: UInt64 = 0, r12: UInt64 = 0
    public var rbp: UInt64 = 0, rbx: UInt64 = 0, r11: UInt64 = 0, r10: UInt64 = 0
    public var r9: UInt64 = 0, r8: UInt64 = 0, rax: UInt64 = 0, rcx: UInt64 = 0
    public var rdx: UInt64 = 0, rsi: UInt64 = 0, rdi: UInt64 = 0, origRax: UInt64 = 0
    public var rip: UInt64 = 0, cs: UInt64 = 0, eflags: UInt64 = 0, rsp: UInt64 = 0
    public var ss: UInt64 = 0, fsBase: UInt64 = 0, gsBase: UInt64 = 0
    public var ds: UInt64 = 0, es: UInt64 = 0, fs: UInt64 = 0, gs: UInt64 = 0

    public init() {}

    init(_ r: cr_user_regs) {
        r15 = r.r15; r14 = r.r14; r13 = r.r13; r12 = r.r12
        rbp = r.rbp; rbx = r.rbx; r11 = r.r11; r10 = r.r10
        r9 = r.r9; r8 = r.r8; rax = r.rax; rcx = r.rcx
        rdx = r.rdx; rsi = r.rsi; rdi = r.rdi; origRax = r.orig_rax
        rip = r.rip; cs = r.cs; eflags = r.eflags; rsp = r.rsp
        ss = r.ss; fsBase = r.fs_base; gsBase = r.gs_base
        ds = r.ds; es = r.es; fs = r.fs; gs = r.gs
    }

    var raw: cr_user_regs {
        var r = cr_user_regs()
        r.r15 = r15; r.r14 = r14; r.r13 = r13; r.r12 = r12
        r.rbp = rbp; r.rbx = rbx; r.r11 = r11; r.r10 = r10
        r.r9 = r9; r.r8 = r8; r.rax = rax; r.rcx = rcx
        r.rdx = rdx; r.rsi = rsi; r.rdi = rdi; r.orig_rax = origRax
        r.rip = rip; r.cs = cs; r.eflags = eflags; r.rsp = rsp
        r.ss = ss; r.fs_base = fsBase; r.gs_base = gsBase
        r.ds = ds; r.es = es; r.fs = fs; r.gs = gs
        return r
    }

    /// The system call this thread was inside when it stopped, if any.
    public var interruptedSyscall: Int64? {
        let nr = Int64(bitPattern: origRax)
        return nr >= 0 ? nr : nil
    }

    /// The value a stopped syscall returned, as a signed errno-style result.
    public var result: Int64 { Int64(bitPattern: rax) }
}

/// Kernel-internal restart codes a thread stopped inside a system call
/// carries in rax. User space never sees them: the kernel rewrites them on
/// the way out, which a restored thread no longer passes through, so the
/// restore must do that rewrite itself.
public enum SyscallRestart {
    public static let restartSys: Int64 = -512
    public static let restartNoIntr: Int64 = -513
    public static let restartNoHand: Int64 = -514
    public static let restartRestartBlock: Int64 = -516

    /// Calls a stop breaks off with -ERESTART_RESTARTBLOCK, keeping the
    /// time left in the thread's restart block, where no process can read
    /// it: poll, nanosleep, clock_nanosleep (relative) and futex waits
    /// with a timeout. Each only waits, so it can start over.
    public static let startedOver: Set<Int64> = [7, 35, 202, 230]

    /// The call a thread inside restart_syscall carries on, told by where
    /// it waited just before it was stopped (its wchan): the restart block
    /// that says so is the kernel's alone. Only poll, futex waits and the
    /// nanosleep family use restart blocks; a nanosleep's wait shows no
    /// name of its own ("do_syscall_64"), and clock_nanosleep (230) is
    /// told from nanosleep (35) by its first argument, a clock id rather
    /// than a pointer. nil when the wait channel tells nothing.
    public static func restartedCall(waitChannel: String, registers: Registers) -> Int64? {
        guard registers.interruptedSyscall == Syscall.restartSyscall, registers.result == restartRestartBlock else { return nil }
        if waitChannel.contains("poll") { return 7 }
        if waitChannel.contains("futex") { return 202 }
        if waitChannel.contains("nanosleep") || waitChannel.contains("nsleep") || waitChannel == "do_syscall_64" {
            return registers.rdi < 64 ? 230 : 35
        }
        return nil
    }

    /// The registers a restored thread must resume with so that an
    /// interrupted system call behaves as the kernel would have made it
    /// behave: repeated, or failed with EINTR.
    ///
    /// For a stop, the kernel itself carries on a call it broke off with
    /// a restart block through restart_syscall, with the time left; the
    /// restored thread has no restart block, so the call starts over with
    /// its own arguments and its whole timeout. EINTR instead would reach
    /// programs that never expect it (tail -F takes it as an error). A
    /// thread caught inside restart_syscall itself, whose call the dump
    /// could not name (see `restartedCall`), gets EINTR.
    public static func resumable(_ regs: Registers) -> Registers {
        var r = regs
        if let call = regs.interruptedSyscall {
            let restartBlock = regs.result == restartRestartBlock
            if [restartSys, restartNoIntr, restartNoHand].contains(regs.result) || (restartBlock && startedOver.contains(call)) {
                // Back over the 2-byte syscall instruction, the number in rax.
                r.rax = regs.origRax
                r.rip = regs.rip &- 2
            } else if restartBlock {
                r.rax = UInt64(bitPattern: -4) // -EINTR
            }
        }
        r.origRax = UInt64.max
        return r
    }
}
