import Ptrace

/// crtool drives a process with 64-bit system calls and restores it
/// through a 64-bit stub. A thread running 32-bit code (an i386 program,
/// or a 64-bit one that switched a thread to the compat segment) would
/// take an injected `syscall` as an illegal instruction and die of it, so
/// the dump refuses such a process before it injects anything.
enum ExecutionMode {
    /// The code segment selector of 64-bit user code on x86-64 Linux
    /// (__USER_CS); 32-bit code runs in 0x23 (__USER32_CS).
    static let userCode64: UInt64 = 0x33

    static func require64Bit(_ process: FrozenProcess) throws {
        for thread in process.threads {
            let cs = try thread.registers().cs
            if cs != userCode64 {
                throw CheckpointError("pid \(process.pid) thread \(thread.tid) runs \(cs == 0x23 ? "32-bit" : "non-64-bit") code (code segment 0x\(String(cs, radix: 16))); crtool checkpoints 64-bit processes only")
            }
        }
    }
}
