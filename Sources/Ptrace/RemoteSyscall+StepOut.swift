import Glibc

extension RemoteSyscall {
    /// Runs the thread's own code one instruction at a time until its
    /// instruction pointer leaves `range`, and makes where it got to the
    /// registers it is given back. A checkpoint uses it to take a thread
    /// out of the vDSO: a program stopped there could go on only in a
    /// vDSO of the same kernel, while one stopped in its caller can go on
    /// through any kernel's.
    ///
    /// The thread runs as borrowed, its signals blocked but SIGTRAP, so
    /// no handler runs on top of it and a signal arriving meanwhile stays
    /// pending; each step's SIGTRAP is consumed here. Returns how many
    /// instructions ran (0 when the thread was outside), or nil when it
    /// was still inside after `limit` of them; it stays where it got to.
    public func stepOut(of range: Range<UInt64>, limit: Int) throws -> Int? {
        guard range.contains(saved.rip) else { return 0 }
        try borrow()
        try tracee.setRegisters(saved)
        var steps = 0
        while steps < limit {
            try tracee.singleStep()
            let stop = try tracee.waitStop()
            switch stop {
            case .signalDelivery(let sig) where sig == SIGTRAP:
                steps += 1
            case .eventStop:
                // A stop asked for before this one; no instruction ran.
                continue
            default:
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(stop) while stepping out of the vDSO at 0x\(String(saved.rip, radix: 16))")
            }
            saved = try tracee.registers()
            extendedStateRead = nil
            if !range.contains(saved.rip) { return steps }
        }
        return nil
    }
}
