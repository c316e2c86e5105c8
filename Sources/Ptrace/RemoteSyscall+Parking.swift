import Glibc

/// Where a parked thread stands and how it is stopped; see `park`.
struct Parking {
    /// The parking runner: the batch loop, then rt_sigreturn.
    var runner: UInt64
    /// The frame's address plus 8, the stack pointer rt_sigreturn wants.
    var stackPointer: UInt64
    /// The signal the thread sends itself to stop after a trip.
    var endSignal: Int32
}

/// Parking: a thread that goes home by itself if crtool dies.
///
/// When its tracer dies, the kernel lets every tracee go on from where it
/// stands with the registers it holds. A thread borrowed for injected
/// calls holds crtool's, and would run on from the injection site and
/// crash; one stopped after a single step (or at an int3) would take a
/// fatal SIGTRAP. A parked thread holds registers that lead it, wherever
/// it stands, into rt_sigreturn on a frame of its own state
/// (`SignalReturnFrame`): before a trip at the runner's last
/// instructions, during a trip inside the runner, which ends there. It
/// is never single-stepped, and a trip ends not at an int3 but with a
/// signal the thread sends itself (tgkill) that the process ignores or
/// that is ignored by default and not caught: the tracer is told of it
/// and takes it away, while without a tracer the kernel drops it.
extension RemoteSyscall {
    /// The instruction after the runner's `syscall`, where the end signal
    /// stops a trip (rip as the stop shows it).
    static let runnerAfterSyscall: UInt64 = 34
    /// The batch loop with rt_sigreturn in place of its closing int3.
    static let parkingRunnerCode = Array(batchRunnerCode.dropLast()) + SigreturnCode.bytes
    /// Where the parking runner's rt_sigreturn starts.
    static let parkingRunnerHome = UInt64(batchRunnerCode.count - 1)

    /// Writes the parking runner at `address`: executable memory of the
    /// tracee that nothing else uses (56 bytes).
    public func installParkingRunner(at address: UInt64) throws {
        try memory.write(Self.parkingRunnerCode, at: address)
        parkingRunner = address
    }

    /// Uses the parking runner `other` installed (a thread of the same process).
    public func useParkingRunner(of other: RemoteSyscall) {
        parkingRunner = other.parkingRunner
    }

    public var isParked: Bool { parking != nil }

    /// Parks the thread: writes at `frameAddress` (64-byte aligned, in
    /// memory of the tracee that nothing else uses, size from
    /// `SignalReturnFrame.size`) a frame that takes it back to
    /// `registers` (its own, any interrupted system call restarted, as
    /// `SyscallRestart.resumable` makes them) and its own signal mask,
    /// and from then on runs every call as a trip of the parking runner
    /// ended by `endSignal`. Needs the parking runner installed.
    public func park(frameAt frameAddress: UInt64, returningTo registers: Registers, endSignal: Int32) throws {
        guard let runner = parkingRunner else { throw TraceError(pid: tracee.tid, "thread \(tracee.tid): no parking runner installed") }
        let frame = SignalReturnFrame.bytes(at: frameAddress, registers: registers, signalMask: originalSignalMask,
                                            extendedState: try originalExtendedState())
        try memory.write(frame, at: frameAddress)
        let place = Parking(runner: runner, stackPointer: frameAddress + 8, endSignal: endSignal)
        var regs = saved
        regs.origRax = UInt64.max
        regs.rip = runner + Self.parkingRunnerHome
        regs.rsp = place.stackPointer
        try tracee.setRegisters(regs)
        parking = place
        try tracee.setSignalMask(Self.blockedWhileParked(endSignal: endSignal))
        borrowed = true
    }

    /// Every signal blocked but the end signal, which must reach the
    /// thread to stop it.
    static func blockedWhileParked(endSignal: Int32) -> UInt64 {
        ~(UInt64(1) << UInt64(endSignal - 1))
    }

    /// One trip of the parking runner: the calls, then tgkill of the
    /// thread with the end signal; resumed with PTRACE_CONT, which also
    /// clears any single step left from before. Returns each call's raw
    /// result.
    func parkedTrip(_ trip: ArraySlice<SyscallRequest>, table tableOffset: Int, place: Parking) throws -> [Int64] {
        let end = SyscallRequest(Syscall.tgkill, UInt64(tracee.ownIDs.pid), UInt64(tracee.ownIDs.tid), UInt64(place.endSignal))
        let address = try stage(Self.table(of: trip + [end]), at: tableOffset)
        var regs = saved
        regs.origRax = UInt64.max
        regs.rip = place.runner
        regs.rbx = address
        regs.r12 = UInt64(trip.count + 1)
        regs.rsp = place.stackPointer
        try tracee.setRegisters(regs)
        try borrow()
        var foreign = 0
        while true {
            // A stop asked for before the trip (an interrupt, a group
            // stop) may report first.
            let stop = try resumeAfterStopsAskedBefore(counting: &foreign)
            guard case .signalDelivery(let sig) = stop, sig == place.endSignal else {
                let at = (try? tracee.registers()).map { "0x" + String($0.rip, radix: 16) } ?? "an unknown address"
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(stop) at \(at) while running \(trip.count) injected calls from 0x\(String(place.runner, radix: 16))")
            }
            let after = try tracee.registers()
            if after.rip == place.runner + Self.runnerAfterSyscall && after.r12 == 1 { break }
            // The same signal sent by someone else mid-trip: ignored by
            // the process anyway, so taken away too.
            foreign += 1
            if foreign > 16 { throw TraceError(pid: tracee.tid, "thread \(tracee.tid) kept receiving \(SignalNames.name(sig)) while running injected calls") }
        }
        let results = try tableResults(at: tableOffset, count: trip.count)
        if debugInjection {
            fputs("inject \(trip.count) parked calls in \(tracee.tid) from 0x\(String(place.runner, radix: 16))\n", stderr)
        }
        return results
    }
}

/// The signal a parked thread ends its trips with.
public enum ParkingSignal {
    /// Signals ignored by default (SIGCHLD, SIGURG, SIGWINCH): one the
    /// process neither catches nor blocks in the thread has no effect on
    /// it, sent or not. SIGCONT is not among them: sending it wakes a
    /// stopped process.
    static let ignoredByDefault: [Int32] = [SIGURG, SIGWINCH, SIGCHLD]
    /// Signals whose sending does something (stop signals drop a pending
    /// SIGCONT, SIGCONT resumes), or that ptrace itself uses.
    static let neverUsed: Set<Int32> = [SIGKILL, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT, SIGTRAP]

    /// A signal that changes nothing for the thread whether it arrives or
    /// not: one the process ignores (SIG_IGN), else one ignored by
    /// default that it does not catch; never one the thread blocks, which
    /// it might be waiting for with sigwaitinfo or a signalfd. nil when
    /// there is none.
    public static func choose(ignored: UInt64, caught: UInt64, blockedByThread: UInt64) -> Int32? {
        func has(_ mask: UInt64, _ sig: Int32) -> Bool { mask & (UInt64(1) << UInt64(sig - 1)) != 0 }
        let usable = { (sig: Int32) in !neverUsed.contains(sig) && !has(blockedByThread, sig) && !has(caught, sig) }
        if let sig = (Int32(1)...64).first(where: { has(ignored, $0) && usable($0) }) { return sig }
        return ignoredByDefault.first { !has(ignored, $0) && usable($0) }
    }
}
