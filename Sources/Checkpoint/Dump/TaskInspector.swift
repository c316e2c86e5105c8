import Foundation
import Ptrace

/// Reads the state that only the task itself can report (signal
/// handlers, interval timers, brk, robust list, alternate stack, the
/// clear-tid address) by injecting system calls into its stopped threads,
/// with a scratch area it is lent for the answers and that is taken back
/// before it runs again.
///
/// Every thread it borrows is parked (`RemoteSyscall.park`) where it can
/// be: a crtool killed in the middle of its questions leaves the process
/// running as it was, but for the scratch area it never took back.
final class TaskInspector {
    let frozen: FrozenProcess
    let site: UInt64
    let memory: RemoteMemory
    private(set) var scratch: UInt64 = 0
    /// The scratch area's size: the work area and two frames.
    private(set) var scratchSize = 0
    /// What injected calls use of the scratch area: answers from the
    /// start, the runners, the batch table in the upper half.
    static let workArea = 16384
    /// Room for one thread's frame (`SignalReturnFrame`), after the work
    /// area: the leader's first, then the other thread being asked.
    private var frameSlot = 0
    private var leaderInjection: RemoteSyscall?
    /// Read before anything was injected: a single step (leaving the
    /// vDSO, or any call of a thread that cannot be parked) raises a
    /// SIGTRAP, which resets an ignored SIGTRAP to SIG_DFL.
    private let trapIgnored: Bool
    /// The process's signal dispositions and the leader's status, which
    /// choose the signal a parked thread stops with.
    private let status: ProcStatus
    /// The process's rt_sigreturn code, through which the mapping and the
    /// unmapping of the scratch area return (`callGoingHome`).
    private let sigreturn: UInt64?
    /// The process's vDSO, which no thread is left inside (`leaveVDSO`).
    private let vdso: Range<UInt64>?
    /// Threads that were inside the vDSO, with the instructions they ran
    /// to leave it; nil for one still inside after `vdsoStepLimit`.
    private(set) var steppedOutOfVDSO: [(tid: Int32, instructions: Int?)] = []

    /// `status`: the leader's, as /proc showed it before anything was
    /// injected.
    init(frozen: FrozenProcess, maps: [MapEntry], memory: RemoteMemory, status: ProcStatus) throws {
        self.frozen = frozen
        self.memory = memory
        self.status = status
        trapIgnored = Self.ignoresTrap(status)
        site = try SyscallSite.inVDSO(pid: frozen.pid, maps: maps)
        vdso = maps.first { $0.path == "[vdso]" }.map { $0.start..<$0.end }
        sigreturn = status.shadowStackEnabled ? nil : SigreturnCode.find(pid: frozen.pid, maps: maps, memory: memory)
    }

    static func ignoresTrap(_ status: ProcStatus) -> Bool {
        status.signalsIgnored & (1 << UInt64(SIGTRAP - 1)) != 0
    }

    /// `status`: the thread's.
    private func injection(for t: Tracee, status: ProcStatus) throws -> RemoteSyscall {
        let inj = try RemoteSyscall(tracee: t, site: site, memory: memory)
        inj.scratch = scratch
        inj.scratchSize = Self.workArea
        if let leader = leaderInjection {
            inj.useBatchRunner(of: leader)
            inj.useParkingRunner(of: leader)
        }
        try leaveVDSO(inj)
        try park(inj, slot: 1, status: status)
        return inj
    }

    /// Parks a borrowed thread, unless nothing can stop its trips without
    /// harm (`ParkingSignal`) or it keeps a shadow stack, on which
    /// rt_sigreturn would find no token for its frame.
    private func park(_ inj: RemoteSyscall, slot: Int, status: ProcStatus) throws {
        guard inj.parkingRunner != nil, !status.shadowStackEnabled,
              let signal = ParkingSignal.choose(ignored: self.status.signalsIgnored, caught: self.status.signalsCaught,
                                                blockedByThread: inj.originalSignalMask) else { return }
        try inj.park(frameAt: scratch + UInt64(Self.workArea + slot * frameSlot), returningTo: homeRegisters(of: inj), endSignal: signal)
    }

    /// A thread's registers as the image keeps them: a wait an earlier
    /// stop broke off, which the kernel carries on in restart_syscall,
    /// named by the call itself, so that a restore can start it over.
    private func imageRegisters(of inj: RemoteSyscall) -> Registers {
        var regs = inj.originalRegisters
        let tid = inj.tracee.tid
        if let wchan = frozen.waitChannels[tid], let call = SyscallRestart.restartedCall(waitChannel: wchan, registers: regs) {
            regs.origRax = UInt64(call)
        }
        return regs
    }

    /// What a frame that takes the thread home holds: its registers with
    /// any interrupted call started over, as a restore would.
    private func homeRegisters(of inj: RemoteSyscall) -> Registers {
        SyscallRestart.resumable(imageRegisters(of: inj))
    }

    /// A thread stopped inside the vDSO is run on until it returns to its
    /// caller, before anything of it is read: an image with a thread in
    /// the middle of the vDSO could be restored only on a kernel with the
    /// same vDSO, since the bridge to another's (VDSOBridge) has entry
    /// points alone. A clock read takes some tens of instructions.
    private func leaveVDSO(_ inj: RemoteSyscall) throws {
        guard let vdso else { return }
        let steps = try inj.stepOut(of: vdso, limit: Self.vdsoStepLimit)
        if steps != 0 { steppedOutOfVDSO.append((inj.tracee.tid, steps)) }
    }

    static let vdsoStepLimit = 10_000

    /// Lends the process a scratch mapping; must be paired with close().
    func open() throws {
        let inj = try RemoteSyscall(tracee: frozen.leader, site: site, memory: memory)
        leaderInjection = inj
        try leaveVDSO(inj)
        frameSlot = (SignalReturnFrame.size(extendedStateSize: try inj.originalExtendedState().count) + 63) & ~63
        scratchSize = (Self.workArea + 2 * frameSlot + 4095) & ~4095
        // Executable too where the system allows it, for the runners: a
        // process's 62 signal actions are then read in one trip into it,
        // not 62 (a tree of 100 shells spent 0.3 s frozen on them), and
        // its threads can be parked. The leader keeps a home frame on its
        // stack until it is parked (`callGoingHome`). At system-call stops
        // in any case: a single step would leave the thread stepping, to
        // take a fatal SIGTRAP should crtool die before it resumes it
        // otherwise.
        let (executable, stackHome) = try sigreturn.map {
            try inj.callGoingHome(through: $0, returningTo: homeRegisters(of: inj),
                                  Syscall.mmap, 0, UInt64(scratchSize), 7, 0x22, UInt64.max, 0)
        } ?? (try inj.callAtSyscallStops(Syscall.mmap, 0, UInt64(scratchSize), 7, 0x22, UInt64.max, 0), nil)
        FaultPoint.reach(FaultPoint.scratchMapped)
        let runs = executable >= 0 || executable < -4095
        if runs {
            scratch = UInt64(bitPattern: executable)
            inj.scratch = scratch
            inj.scratchSize = Self.workArea
            try inj.installBatchRunner(at: scratch + UInt64(Self.runnerOffset))
            try inj.installParkingRunner(at: scratch + UInt64(Self.parkingRunnerOffset))
            try park(inj, slot: 0, status: status)
        }
        if let stackHome {
            // Its own registers, or parked: the frame is no longer needed.
            if !inj.isParked { try inj.finish() }
            try stackHome.remove(from: inj)
        }
        guard !runs else { return }
        scratch = try inj.checkedAtSyscallStops("scratch area", Syscall.mmap, 0, UInt64(scratchSize), 3, 0x22, UInt64.max, 0)
        inj.scratch = scratch
        inj.scratchSize = Self.workArea
    }

    /// Gives the leader its own registers and signal mask back while the
    /// scratch mapping stays, for the long part of a dump that asks
    /// nothing of it; a later call borrows it again.
    func giveThreadsBack() throws {
        try leaderInjection?.finish()
    }

    /// Whether the leader, borrowed, would go home by itself were crtool
    /// to die now.
    var leaderIsParked: Bool { leaderInjection?.isParked ?? false }

    /// Where the runners' code sits: below the table callAll writes in
    /// the upper half, above the answers calls write from the start.
    static let runnerOffset = workArea / 2 - 128
    static let parkingRunnerOffset = workArea / 2 - 64

    /// Takes the scratch mapping back and gives the leader its registers.
    func close() throws {
        guard let inj = leaderInjection else { return }
        leaderInjection = nil
        if scratch != 0 {
            let home = sigreturn.map { _ in homeRegisters(of: inj) }
            let stackHome = try inj.returnScratch(at: scratch, size: UInt64(scratchSize), trapIgnored: trapIgnored,
                                                  goingHomeThrough: sigreturn, returningTo: home)
            scratch = 0
            FaultPoint.reach(FaultPoint.scratchUnmapped)
            try inj.finish()
            try stackHome?.remove(from: inj)
            return
        }
        try inj.finish()
    }

    /// A write tracker of the process: a userfaultfd it opens, of which
    /// crtool takes a copy before the process closes its own, so the
    /// program never sees a descriptor it did not open.
    func openWriteTracker() throws -> WriteTracker {
        guard let inj = leaderInjection else { throw CheckpointError("pid \(frozen.pid): no injection open for a write tracker") }
        let remote = try inj.checked("userfaultfd for write tracking", Syscall.userfaultfd, WriteTracker.creationFlags)
        let local = Result { try PidFD(pid: frozen.pid).duplicate(Int32(remote)) }
        _ = try inj.checked("close of the write tracker's userfaultfd", Syscall.close, UInt64(remote))
        return try WriteTracker(adopting: try local.get(), pid: frozen.pid)
    }

    /// Has the process reap these children of its own, which crtool
    /// killed (or which were zombies already): it is frozen, about to be
    /// killed too, and would otherwise leave them to init, which may take
    /// a second to free their PIDs. WNOHANG: a child the kernel reaped
    /// already (SIGCHLD ignored) or not yet waitable is left as it is.
    func reap(_ children: [Int32]) throws {
        guard let inj = leaderInjection, !children.isEmpty else { return }
        let options = UInt64(WNOHANG) | 0x4000_0000 // __WALL: clone children too
        _ = try inj.callAll(children.map { SyscallRequest(Syscall.wait4, UInt64($0), 0, options, 0) })
    }

    /// Everything only the process can tell, asked by injected calls: the
    /// leader answers its own thread's questions and the process-wide ones
    /// (brk, signal actions, interval timers, controls) in one trip, every
    /// other thread its own in one trip each. `threadFacts` are what /proc
    /// showed of each thread.
    func ask(threadFacts: [Int32: ThreadFacts]) throws -> InjectedAnswers {
        guard let leader = leaderInjection else { throw CheckpointError("pid \(frozen.pid): no injection open to ask it") }
        var batch = newBatch()
        let leaderThread = askThread(&batch)
        let brk = batch.ask("brk(0)", SyscallRequest(Syscall.brk, 0))
        let actions = askSignalActions(&batch)
        let timers = askIntervalTimers(&batch)
        let controls = askControls(&batch)
        let answers = try batch.run(leader)
        var threads: [ThreadImage] = []
        for t in frozen.threads {
            guard let facts = threadFacts[t.tid] else { throw CheckpointError("pid \(frozen.pid): thread \(t.tid) was not there when /proc was read") }
            if t.tid == frozen.pid {
                threads.append(try thread(t, injection: leader, answers: leaderThread(answers), facts: facts))
                continue
            }
            let own = try injection(for: t, status: facts.status)
            do {
                var questions = newBatch()
                let decode = askThread(&questions)
                let answered = decode(try questions.run(own))
                try own.finish()
                threads.append(try thread(t, injection: own, answers: answered, facts: facts))
            } catch {
                try? own.finish()
                throw error
            }
        }
        return InjectedAnswers(threads: threads, brk: UInt64(bitPattern: answers.results[brk]),
                               signalActions: actions(answers), intervalTimers: timers(answers), controls: controls(answers))
    }

    private func newBatch() -> QuestionBatch {
        QuestionBatch(scratch: scratch, answerLimit: Self.runnerOffset)
    }

    /// What a thread tells of itself by calls: robust list, clear-tid
    /// address, alternate stack, parent-death signal, timer slack, memory
    /// policy.
    struct ThreadAnswers {
        var robustListHead: UInt64
        var robustListLength: UInt64
        var clearChildTid: UInt64
        var alternateStack: AlternateStack
        var parentDeathSignal: Int32
        var timerSlack: UInt64
        var memoryPolicy: MemoryPolicy?
    }

    private func askThread(_ batch: inout QuestionBatch) -> (QuestionAnswers) -> ThreadAnswers {
        let robust = batch.room(16), tidAddress = batch.room(8), stack = batch.room(24), death = batch.room(4)
        let mode = batch.room(4), mask = batch.room(MemoryPolicyLayout.maskBytes)
        batch.ask("robust list", SyscallRequest(Syscall.getRobustList, 0, batch.address(robust), batch.address(robust + 8)))
        batch.ask("PR_GET_TID_ADDRESS", SyscallRequest(Syscall.prctl, 40, batch.address(tidAddress)))
        batch.ask("alternate stack", SyscallRequest(Syscall.sigaltstack, 0, batch.address(stack)))
        batch.ask("PR_GET_PDEATHSIG", SyscallRequest(Syscall.prctl, 2, batch.address(death)))
        let slack = batch.ask("PR_GET_TIMERSLACK", SyscallRequest(Syscall.prctl, 30))
        // ENOSYS on a kernel without NUMA: the default policy.
        let policy = batch.ask(nil, SyscallRequest(Syscall.getMempolicy, batch.address(mode), batch.address(mask),
                                                   MemoryPolicyLayout.maxNodes, 0, 0))
        return { a in
            let b = a.bytes
            return ThreadAnswers(
                robustListHead: b.le(UInt64.self, at: robust), robustListLength: b.le(UInt64.self, at: robust + 8),
                clearChildTid: b.le(UInt64.self, at: tidAddress),
                alternateStack: AlternateStack(base: b.le(UInt64.self, at: stack), flags: b.le(Int32.self, at: stack + 8),
                                               size: b.le(UInt64.self, at: stack + 16)),
                parentDeathSignal: b.le(Int32.self, at: death),
                timerSlack: UInt64(a.results[slack]),
                memoryPolicy: a.results[policy] == 0
                    ? MemoryPolicyLayout.decode(mode: Array(b[mode..<mode + 4]), mask: Array(b[mask..<mask + MemoryPolicyLayout.maskBytes]))
                    : nil)
        }
    }

    /// A thread's image: its answers and facts, and what ptrace reads of
    /// it (registers, extended state, pending signals, rseq, seccomp).
    private func thread(_ t: Tracee, injection inj: RemoteSyscall, answers: ThreadAnswers, facts: ThreadFacts) throws -> ThreadImage {
        let regs = imageRegisters(of: inj)
        var image = ThreadImage(
            tid: t.tid,
            name: facts.name,
            registers: regs,
            extendedState: Data(try t.extendedState()),
            signalMask: inj.originalSignalMask,
            pendingSignals: try t.pendingSignals(shared: false).map { PendingSignal(signal: $0.signal, info: Data($0.bytes)) },
            rseq: try t.rseqConfiguration(),
            robustListHead: answers.robustListHead,
            robustListLength: answers.robustListLength,
            clearChildTid: answers.clearChildTid,
            alternateStack: answers.alternateStack,
            stoppedIn: regs.interruptedSyscall.map { SyscallNames.name($0) })
        image.noNewPrivs = facts.status.noNewPrivs
        image.parentDeathSignal = answers.parentDeathSignal == 0 ? nil : answers.parentDeathSignal
        image.timerSlack = answers.timerSlack
        image.memoryPolicy = answers.memoryPolicy
        image.scheduling = facts.scheduling
        image.seccompFilters = try SeccompFilters.read(t, mode: facts.status.seccompMode)
        return image
    }

    /// The starts of the VMAs that may have a NUMA policy of their own
    /// (mbind): numa_maps names a policy for every VMA, the thread's where
    /// the range has none, so those it shows with another than "default".
    /// Empty when the kernel has no numa_maps.
    static func policyCandidates(pid: Int32) -> Set<UInt64> {
        guard let text = try? ProcFile.text("/proc/\(pid)/numa_maps", pid: pid) else { return [] }
        var candidates: Set<UInt64> = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            if fields.count >= 2, fields[1] != "default", let start = UInt64(fields[0], radix: 16) { candidates.insert(start) }
        }
        return candidates
    }

    /// The NUMA policies ranges have of their own, by VMA start: each of
    /// the `candidates` is asked by get_mempolicy at its address, which
    /// answers the range's own or the default.
    func memoryPolicies(of vmas: [VMAImage], candidates: Set<UInt64>) throws -> [UInt64: MemoryPolicy] {
        guard !candidates.isEmpty, let inj = leaderInjection else { return [:] }
        var result: [UInt64: MemoryPolicy] = [:]
        for vma in vmas where candidates.contains(vma.start) {
            let r = try inj.call(Syscall.getMempolicy, scratch, scratch + 128, MemoryPolicyLayout.maxNodes, vma.start, MemoryPolicyLayout.policyOfAddress)
            guard r == 0 else { continue }
            let answer = try inj.fetch(at: 0, count: 128 + MemoryPolicyLayout.maskBytes)
            result[vma.start] = MemoryPolicyLayout.decode(mode: Array(answer[0..<4]), mask: Array(answer[128...]))
        }
        return result
    }

    /// Handlers of every signal that has one (SIG_DFL with no flags is left out).
    private func askSignalActions(_ batch: inout QuestionBatch) -> (QuestionAnswers) -> [SignalActionImage] {
        let signals = (Int32(1)...64).filter { $0 != SIGKILL && $0 != SIGSTOP }
        // struct sigaction as the kernel writes it: handler, flags, restorer, mask.
        let size = 32
        let first = batch.room(signals.count * size)
        for (i, sig) in signals.enumerated() {
            batch.ask("reading the handler of \(SignalNames.name(sig))",
                      SyscallRequest(Syscall.rtSigaction, UInt64(sig), 0, batch.address(first + i * size), 8))
        }
        let trapIgnored = self.trapIgnored
        return { a in
            var result: [SignalActionImage] = []
            for (i, sig) in signals.enumerated() {
                let at = first + i * size
                // The first injected call reset an ignored SIGTRAP to SIG_DFL.
                let handler = sig == SIGTRAP && trapIgnored ? 1 : a.bytes.le(UInt64.self, at: at)
                let action = SignalActionImage(signal: sig, handler: handler, flags: a.bytes.le(UInt64.self, at: at + 8),
                                               restorer: a.bytes.le(UInt64.self, at: at + 16), mask: a.bytes.le(UInt64.self, at: at + 24))
                if action.handler != 0 || action.flags != 0 || action.mask != 0 { result.append(action) }
            }
            return result
        }
    }

    private func askIntervalTimers(_ batch: inout QuestionBatch) -> (QuestionAnswers) -> [IntervalTimerImage] {
        let first = batch.room(3 * 32)
        for which in 0...2 {
            batch.ask("getitimer", SyscallRequest(Syscall.getitimer, UInt64(which), batch.address(first + which * 32)))
        }
        return { a in
            var result: [IntervalTimerImage] = []
            for which in Int32(0)...2 {
                let at = first + Int(which) * 32
                let interval = a.bytes.le(UInt64.self, at: at) * 1_000_000 + a.bytes.le(UInt64.self, at: at + 8)
                let value = a.bytes.le(UInt64.self, at: at + 16) * 1_000_000 + a.bytes.le(UInt64.self, at: at + 24)
                if interval != 0 || value != 0 {
                    result.append(IntervalTimerImage(which: which, intervalMicroseconds: interval, valueMicroseconds: value))
                }
            }
            return result
        }
    }

    func posixTimers() throws -> [PosixTimerImage] {
        try PosixTimers.collect(pid: frozen.pid, with: leaderInjection!)
    }

    /// mlockall(MCL_FUTURE), read off the scratch page: a mapping made
    /// after it carries the lock flags. The page may have merged with a
    /// neighbour of the same flags, so the VMA holding it is looked up.
    func futureMappingLock() throws -> FutureMappingLock? {
        let (maps, _) = try Smaps.mapsWithDetails(pid: frozen.pid)
        let flags = maps.first { $0.start <= scratch && scratch < $0.end }?.flags ?? []
        if flags.contains("lf") { return .lockedOnFault }
        return flags.contains("lo") ? .locked : nil
    }

    /// Subreaper, dumpable, THP-disabled, membarrier registrations and
    /// KSM merging, asked of the leader (the core dump filter is a fact).
    private func askControls(_ batch: inout QuestionBatch) -> (QuestionAnswers) -> ProcessControls {
        let barriers = MembarrierRegistration.commands
        let subreaper = batch.room(4)
        batch.ask("PR_GET_CHILD_SUBREAPER", SyscallRequest(Syscall.prctl, 37, batch.address(subreaper)))
        let dumpable = batch.ask("PR_GET_DUMPABLE", SyscallRequest(Syscall.prctl, 3))
        let thp = batch.ask("PR_GET_THP_DISABLE", SyscallRequest(Syscall.prctl, 42))
        let issued = barriers.map { batch.ask(nil, MembarrierRegistration.issue($0)) }
        // EINVAL on kernels without KSM: nothing to keep.
        let merge = batch.ask(nil, SyscallRequest(Syscall.prctl, 68)) // PR_GET_MEMORY_MERGE
        return { a in
            var controls = ProcessControls(childSubreaper: a.bytes.le(Int32.self, at: subreaper) != 0,
                                           dumpable: Int32(a.results[dumpable]), hugePagesDisabled: a.results[thp] != 0)
            let registered = zip(barriers, issued).filter { a.results[$0.1] == 0 }.map(\.0)
            controls.membarriers = registered.isEmpty ? nil : registered
            controls.mergeAllMemory = a.results[merge] == 1 ? true : nil
            return controls
        }
    }
}

/// What `TaskInspector.ask` learnt from the process.
struct InjectedAnswers {
    var threads: [ThreadImage]
    var brk: UInt64
    var signalActions: [SignalActionImage]
    var intervalTimers: [IntervalTimerImage]
    var controls: ProcessControls
}
