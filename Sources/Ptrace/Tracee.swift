import CSupport
import Glibc

/// One thread under ptrace. ptrace belongs to the OS thread that attached,
/// so a Tracee remembers that thread and refuses calls from any other: a
/// wrong-thread call would otherwise fail with a baffling ESRCH.
public final class Tracee {
    public let tid: Int32
    /// The thread group (process) this thread belongs to.
    public let pid: Int32
    let owner: pthread_t
    public private(set) var lastStop: Stop?
    /// The ids the thread has in its own PID namespace, which a call
    /// injected into it must name it by (tgkill, rt_sigqueueinfo): the
    /// same as `pid` and `tid` in crtool's. Read once, on first use.
    public private(set) lazy var ownIDs: (pid: Int32, tid: Int32) = {
        guard let status = try? ProcStatus.read(pid: pid, tid: tid),
              let tgid = status.namespaceGroupIDs.last, let own = status.namespaceIDs.last else { return (pid, tid) }
        return (tgid, own)
    }()

    init(tid: Int32, pid: Int32) {
        self.tid = tid
        self.pid = pid
        self.owner = pthread_self()
    }

    /// Attaches without stopping the thread (PTRACE_SEIZE).
    public static func seize(tid: Int32, pid: Int32, options: PtraceOptions) throws -> Tracee {
        _ = try ptraceCall(PtraceRequest.seize, tid, 0, options.rawValue, "PTRACE_SEIZE of thread \(tid)")
        return Tracee(tid: tid, pid: pid)
    }

    /// A thread the kernel attached to us by itself (a clone or fork seen
    /// under PTRACE_O_TRACECLONE/TRACEFORK).
    public static func adopt(tid: Int32, pid: Int32) -> Tracee {
        Tracee(tid: tid, pid: pid)
    }

    /// The TID of the calling thread: what /proc/TID/status shows as
    /// TracerPid of the threads it traces (a thread, not the process).
    public static var callingThreadID: Int32 {
        Int32(truncatingIfNeeded: cr_syscall6(Int(Syscall.gettid), 0, 0, 0, 0, 0, 0))
    }

    func checkOwner(_ operation: String) throws {
        guard pthread_equal(owner, pthread_self()) != 0 else {
            throw TraceError(pid: tid, "\(operation) called from a thread that did not attach it; ptrace requests must come from the attaching thread")
        }
    }

    /// Asks the thread to stop (PTRACE_INTERRUPT); pair with waitStop().
    public func interrupt() throws {
        try checkOwner("PTRACE_INTERRUPT")
        _ = try ptraceCall(PtraceRequest.interrupt, tid, 0, 0, "PTRACE_INTERRUPT of thread \(tid)")
    }

    /// Waits for the next state change of this thread.
    @discardableResult
    public func waitStop() throws -> Stop {
        try checkOwner("waitpid")
        var status: Int32 = 0
        while true {
            let r = waitpid(tid, &status, Int32(bitPattern: 0x4000_0000)) // __WALL
            if r == tid { break }
            if r == -1 && errno == EINTR { continue }
            throw SystemError("waitpid on thread \(tid)", pid: tid)
        }
        let stop = Stop(status: status)
        lastStop = stop
        return stop
    }

    /// Like waitStop(), but gives up after `seconds`: nil when no stop
    /// came. A thread asleep in the kernel beyond a signal's reach (state
    /// D: a vfork parent, a hung NFS or FUSE request) never reports one.
    public func waitStop(within seconds: Double) throws -> Stop? {
        try checkOwner("waitpid")
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var pause: UInt32 = 20
        var status: Int32 = 0
        while true {
            let r = waitpid(tid, &status, Int32(bitPattern: 0x4000_0000) | WNOHANG) // __WALL
            if r == tid {
                let stop = Stop(status: status)
                lastStop = stop
                return stop
            }
            if r == -1 && errno == EINTR { continue }
            if r != 0 { throw SystemError("waitpid on thread \(tid)", pid: tid) }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9 >= seconds { return nil }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
    }

    public func registers() throws -> Registers {
        try checkOwner("PTRACE_GETREGS")
        var raw = cr_user_regs()
        try withUnsafeMutablePointer(to: &raw) { p in
            _ = try ptraceCall(PtraceRequest.getRegs, tid, 0, UInt64(UInt(bitPattern: p)), "PTRACE_GETREGS of thread \(tid)")
        }
        return Registers(raw)
    }

    public func setRegisters(_ regs: Registers) throws {
        try checkOwner("PTRACE_SETREGS")
        var raw = regs.raw
        try withUnsafeMutablePointer(to: &raw) { p in
            _ = try ptraceCall(PtraceRequest.setRegs, tid, 0, UInt64(UInt(bitPattern: p)), "PTRACE_SETREGS of thread \(tid)")
        }
    }

    /// The FPU/SSE/AVX state as the XSAVE area (NT_X86_XSTATE).
    public func extendedState() throws -> [UInt8] {
        try checkOwner("PTRACE_GETREGSET")
        var buffer = [UInt8](repeating: 0, count: 16384)
        let size: Int = try buffer.withUnsafeMutableBytes { b in
            var iov = iovec(iov_base: b.baseAddress, iov_len: b.count)
            try withUnsafeMutablePointer(to: &iov) { p in
                _ = try ptraceCall(PtraceRequest.getRegSet, tid, RegSet.xstate, UInt64(UInt(bitPattern: p)), "PTRACE_GETREGSET(NT_X86_XSTATE) of thread \(tid)")
            }
            return iov.iov_len
        }
        return Array(buffer.prefix(size))
    }

    /// Sets the thread's register state from an area saved on this CPU or
    /// another: `XSaveArea.fitted` makes it one this CPU's kernel takes.
    public func setExtendedState(_ state: [UInt8]) throws {
        try checkOwner("PTRACE_SETREGSET")
        var copy = XSaveArea.fitted(state, size: XSaveArea.hostSize, components: XSaveArea.hostComponents)
        try copy.withUnsafeMutableBytes { b in
            var iov = iovec(iov_base: b.baseAddress, iov_len: b.count)
            try withUnsafeMutablePointer(to: &iov) { p in
                _ = try ptraceCall(PtraceRequest.setRegSet, tid, RegSet.xstate, UInt64(UInt(bitPattern: p)), "PTRACE_SETREGSET(NT_X86_XSTATE) of thread \(tid)")
            }
        }
    }

    /// The blocked-signal mask (bit n-1 is signal n).
    public func signalMask() throws -> UInt64 {
        try checkOwner("PTRACE_GETSIGMASK")
        var mask: UInt64 = 0
        try withUnsafeMutablePointer(to: &mask) { p in
            _ = try ptraceCall(PtraceRequest.getSigMask, tid, 8, UInt64(UInt(bitPattern: p)), "PTRACE_GETSIGMASK of thread \(tid)")
        }
        return mask
    }

    public func setSignalMask(_ mask: UInt64) throws {
        try checkOwner("PTRACE_SETSIGMASK")
        var m = mask
        try withUnsafeMutablePointer(to: &m) { p in
            _ = try ptraceCall(PtraceRequest.setSigMask, tid, 8, UInt64(UInt(bitPattern: p)), "PTRACE_SETSIGMASK of thread \(tid)")
        }
    }

    /// Signals queued but not yet delivered, without dequeuing them.
    public func pendingSignals(shared: Bool) throws -> [SignalInfo] {
        try checkOwner("PTRACE_PEEKSIGINFO")
        var result: [SignalInfo] = []
        var buffer = [UInt8](repeating: 0, count: 128 * 32)
        while true {
            var args = cr_peeksiginfo_args(off: UInt64(result.count), flags: shared ? 1 : 0, nr: 32)
            let n: Int = try buffer.withUnsafeMutableBytes { b in
                try withUnsafeMutablePointer(to: &args) { a in
                    try ptraceCall(PtraceRequest.peekSigInfo, tid, UInt64(UInt(bitPattern: a)), UInt64(UInt(bitPattern: b.baseAddress!)),
                                   "PTRACE_PEEKSIGINFO of thread \(tid)")
                }
            }
            if n <= 0 { break }
            for i in 0..<n {
                result.append(SignalInfo(bytes: Array(buffer[(i * 128)..<((i + 1) * 128)])))
            }
            if n < 32 { break }
        }
        return result
    }

    /// The rseq area this thread registered, or nil when it has none.
    public func rseqConfiguration() throws -> RseqConfiguration? {
        try checkOwner("PTRACE_GET_RSEQ_CONFIGURATION")
        var conf = cr_rseq_configuration()
        try withUnsafeMutablePointer(to: &conf) { p in
            _ = try ptraceCall(PtraceRequest.getRseqConfiguration, tid, UInt64(MemoryLayout<cr_rseq_configuration>.size),
                               UInt64(UInt(bitPattern: p)), "PTRACE_GET_RSEQ_CONFIGURATION of thread \(tid)")
        }
        if conf.rseq_abi_pointer == 0 { return nil }
        return RseqConfiguration(address: conf.rseq_abi_pointer, length: conf.rseq_abi_size, signature: conf.signature)
    }

    /// PTRACE_GETEVENTMSG: the new tid after a clone event, and so on.
    public func eventMessage() throws -> UInt64 {
        try checkOwner("PTRACE_GETEVENTMSG")
        var msg: UInt64 = 0
        try withUnsafeMutablePointer(to: &msg) { p in
            _ = try ptraceCall(PtraceRequest.getEventMsg, tid, 0, UInt64(UInt(bitPattern: p)), "PTRACE_GETEVENTMSG of thread \(tid)")
        }
        return msg
    }

    /// The classic BPF programs of this thread's seccomp filters, oldest last.
    public func seccompFilter(index: Int) throws -> [UInt8]? {
        try checkOwner("PTRACE_SECCOMP_GET_FILTER")
        let count = cr_ptrace(PtraceRequest.seccompGetFilter, tid, UInt64(index), 0)
        if count == -1 {
            if errno == ENOENT || errno == EINVAL { return nil }
            throw SystemError("PTRACE_SECCOMP_GET_FILTER of thread \(tid)", pid: tid)
        }
        var buffer = [UInt8](repeating: 0, count: count * 8)
        _ = try buffer.withUnsafeMutableBytes { b in
            try ptraceCall(PtraceRequest.seccompGetFilter, tid, UInt64(index), UInt64(UInt(bitPattern: b.baseAddress!)), "PTRACE_SECCOMP_GET_FILTER of thread \(tid)")
        }
        return buffer
    }

    /// Finishes the system call the thread is stopped inside (an exec
    /// stop), so that registers set afterwards are not overwritten by that
    /// call's return value. The kernel reports the step on the syscall's
    /// exit, before any user instruction runs.
    public func stepOutOfSyscall() throws {
        try singleStep()
        let stop = try waitStop()
        guard case .signalDelivery(let sig) = stop, sig == SIGTRAP else {
            throw TraceError(pid: tid, "thread \(tid) \(stop) while leaving its system call")
        }
    }

    public func singleStep(signal: Int32 = 0) throws {
        try checkOwner("PTRACE_SINGLESTEP")
        _ = try ptraceCall(PtraceRequest.singleStep, tid, 0, UInt64(signal), "PTRACE_SINGLESTEP of thread \(tid)")
    }

    /// Runs the thread to its next system-call entry or exit stop.
    public func resumeToSyscallStop() throws {
        try checkOwner("PTRACE_SYSCALL")
        _ = try ptraceCall(PtraceRequest.syscall, tid, 0, 0, "PTRACE_SYSCALL of thread \(tid)")
    }

    public func resume(signal: Int32 = 0) throws {
        try checkOwner("PTRACE_CONT")
        _ = try ptraceCall(PtraceRequest.cont, tid, 0, UInt64(signal), "PTRACE_CONT of thread \(tid)")
    }

    /// Lets the thread go; it runs on from where its registers say.
    public func detach(signal: Int32 = 0) throws {
        try checkOwner("PTRACE_DETACH")
        _ = try ptraceCall(PtraceRequest.detach, tid, 0, UInt64(signal), "PTRACE_DETACH of thread \(tid)")
    }
}

/// A siginfo_t exactly as the kernel reported it (128 bytes), so it can be
/// queued again unchanged.
public struct SignalInfo: Equatable, Sendable {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var signal: Int32 {
        Int32(bytes[0]) | Int32(bytes[1]) << 8 | Int32(bytes[2]) << 16 | Int32(bytes[3]) << 24
    }
}

public struct RseqConfiguration: Codable, Equatable, Sendable {
    public var address: UInt64
    public var length: UInt32
    public var signature: UInt32
    public init(address: UInt64, length: UInt32, signature: UInt32) {
        self.address = address
        self.length = length
        self.signature = signature
    }
}
