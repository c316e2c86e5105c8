import Ptrace

/// membarrier(2) registrations, which belong to the address space: a
/// process that registered for private expedited barriers and is restored
/// into a fresh one would get EPERM from its next barrier.
enum MembarrierRegistration {
    /// The private expedited barriers, each of which a process must
    /// register for first: plain, SYNC_CORE and RSEQ.
    static let commands: [Int32] = [8, 32, 128]

    /// Issuing the barrier itself tells: EPERM when not registered. The
    /// process is frozen, so the barrier interrupts nobody.
    static func issue(_ command: Int32) -> SyscallRequest {
        SyscallRequest(Syscall.membarrier, UInt64(command), 0, 0)
    }

    /// The registration command of a barrier is the next bit up.
    static func register(_ command: Int32, inj: RemoteSyscall, pid: Int32, warnings: inout [String]) throws {
        guard commands.contains(command) else {
            throw ImageError(file: "process-\(pid).json", field: "controls.membarriers", reason: "\(command) is not a private expedited membarrier command")
        }
        let r = try inj.call(Syscall.membarrier, UInt64(command << 1), 0, 0)
        if r < 0 {
            warnings.append("pid \(pid) is not registered for membarrier command \(command) again: \(ErrnoNames.name(Int32(-r)))")
        }
    }
}
