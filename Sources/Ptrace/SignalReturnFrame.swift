/// The bytes rt_sigreturn reads at a thread's stack pointer: a signal
/// frame, as the kernel writes one before it runs a handler, that takes
/// the thread back to a given state (general registers, flags, signal
/// mask and the whole FPU/SSE/AVX state) in one system call.
///
/// A thread crtool borrows keeps one of these in its scratch area
/// (`RemoteSyscall.park`). Should crtool die while the thread holds
/// crtool's registers, the kernel lets the thread go on from wherever it
/// stands, and everywhere it can stand then leads to an rt_sigreturn on
/// this frame: the thread goes home instead of running on from an
/// injection site with crtool's registers and crashing.
public enum SignalReturnFrame {
    /// Where the ucontext starts: after the handler's return address,
    /// which rt_sigreturn skips (the stack pointer points past it).
    static let contextOffset = 8
    /// ucontext: flags, link, the alternate stack (24 bytes), then the
    /// sigcontext and the signal mask.
    static let stackFlagsOffset = contextOffset + 16 + 8
    static let sigcontextOffset = contextOffset + 40
    static let signalMaskOffset = sigcontextOffset + 256
    /// The extended state follows the siginfo, aligned as XRSTOR needs.
    static let extendedStateOffset = 448
    /// The software bytes the kernel checks before it takes the whole
    /// XSAVE area rather than the legacy FXSAVE part alone.
    static let softwareBytesOffset = 464
    static let magic1: UInt32 = 0x4650_5853
    static let magic2: UInt32 = 0x4650_5845
    /// UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS: the
    /// extended state is there, and ss is taken as it is written.
    static let contextFlags: UInt64 = 1 | 2 | 4
    /// An alternate-stack mode sigaltstack refuses (EINVAL), an error
    /// rt_sigreturn ignores: the thread keeps its alternate stack as it
    /// is, which crtool need not know to write the frame.
    static let alternateStackLeftAlone: UInt32 = 4

    /// The bytes a frame takes with an extended state of `extendedStateSize`.
    public static func size(extendedStateSize: Int) -> Int {
        extendedStateOffset + extendedStateSize + 4
    }

    /// The frame for a thread to be put back to `registers` and
    /// `signalMask`, with `extendedState` as PTRACE_GETREGSET
    /// (NT_X86_XSTATE) read it, to be written at `address`, which must be
    /// 64-byte aligned. The thread's stack pointer must be `address + 8`
    /// when it calls rt_sigreturn. rt_sigreturn takes an interrupted
    /// system call as finished, so `registers` should be the thread's
    /// own with any restart already applied (`SyscallRestart.resumable`).
    public static func bytes(at address: UInt64, registers r: Registers, signalMask: UInt64,
                             extendedState: [UInt8]) -> [UInt8] {
        precondition(address % 64 == 0 && extendedState.count >= softwareBytesOffset + 48)
        var frame = [UInt8](repeating: 0, count: size(extendedStateSize: extendedState.count))
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            frame.replaceSubrange(offset..<offset + MemoryLayout<T>.size, with: [UInt8].le(value))
        }
        put(contextFlags, at: contextOffset)
        put(alternateStackLeftAlone, at: stackFlagsOffset)
        let general = [r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
                       r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp, r.rip, r.eflags]
        for (i, value) in general.enumerated() { put(value, at: sigcontextOffset + 8 * i) }
        // cs, gs, fs, ss: 16 bits each.
        put(UInt16(truncatingIfNeeded: r.cs), at: sigcontextOffset + 144)
        put(UInt16(truncatingIfNeeded: r.ss), at: sigcontextOffset + 150)
        put(address + UInt64(extendedStateOffset), at: sigcontextOffset + 184)
        put(signalMask, at: signalMaskOffset)

        frame.replaceSubrange(extendedStateOffset..<extendedStateOffset + extendedState.count, with: extendedState)
        // ptrace leaves XCR0 in the first software bytes; a signal frame
        // has the magic, the sizes and the features there.
        let features = extendedState.le(UInt64.self, at: softwareBytesOffset)
        let software = extendedStateOffset + softwareBytesOffset
        frame.replaceSubrange(software..<software + 48, with: [UInt8](repeating: 0, count: 48))
        put(magic1, at: software)
        put(UInt32(extendedState.count + 4), at: software + 4)
        put(features, at: software + 8)
        put(UInt32(extendedState.count), at: software + 16)
        put(magic2, at: extendedStateOffset + extendedState.count)
        return frame
    }
}
