import Foundation
import Ptrace

/// Reads the state that only the task itself can report (signal
/// handlers, interval timers, brk, robust list, alternate stack, the
/// clear-tid address) by injecting system calls into its stopped threads,
/// with a scratch page it is lent for the answers and that is taken back
/// before it runs again.
final class TaskInspector {
    let frozen: FrozenProcess
    let site: UInt64
    let memory: RemoteMemory
    private(set) var scratch: UInt64 = 0
    let scratchSize = 16384
    private var leaderInjection: RemoteSyscall?
    /// Read before the first injected call, whose single step resets an
    /// ignored SIGTRAP to SIG_DFL.
    private var trapIgnored = false

    init(frozen: FrozenProcess, maps: [MapEntry], memory: RemoteMemory) throws {
        self.frozen = frozen
        self.memory = memory
        site = try SyscallSite.inVDSO(pid: frozen.pid, maps: maps)
    }

    private func injection(for t: Tracee) throws -> RemoteSyscall {
        let inj = try RemoteSyscall(tracee: t, site: site, memory: memory)
        inj.scratch = scratch
        inj.scratchSize = scratchSize
        if let leader = leaderInjection { inj.useBatchRunner(of: leader) }
        return inj
    }

    /// Lends the process a scratch mapping; must be paired with close().
    func open() throws {
        trapIgnored = try ProcStatus.read(pid: frozen.pid).signalsIgnored & (1 << UInt64(SIGTRAP - 1)) != 0
        let inj = try RemoteSyscall(tracee: frozen.leader, site: site, memory: memory)
        leaderInjection = inj
        // Executable too where the system allows it, for the batch runner:
        // a process's 62 signal actions are then read in one trip into it,
        // not 62 (a tree of 100 shells spent 0.3 s frozen on them).
        let executable = try inj.call(Syscall.mmap, 0, UInt64(scratchSize), 7, 0x22, UInt64.max, 0)
        let runs = executable >= 0 || executable < -4095
        scratch = runs ? UInt64(bitPattern: executable)
            : try inj.checked("scratch page", Syscall.mmap, 0, UInt64(scratchSize), 3, 0x22, UInt64.max, 0)
        inj.scratch = scratch
        inj.scratchSize = scratchSize
        if runs { try inj.installBatchRunner(at: scratch + UInt64(Self.runnerOffset)) }
    }

    /// Where the batch runner's code sits: below the table callAll writes
    /// in the upper half, above the answers calls write from the start.
    static let runnerOffset = 8192 - 64

    /// Takes the scratch mapping back and gives the leader its registers.
    func close() throws {
        guard let inj = leaderInjection else { return }
        leaderInjection = nil
        if scratch != 0 {
            try inj.returnScratch(at: scratch, size: UInt64(scratchSize), trapIgnored: trapIgnored)
            scratch = 0
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

    func thread(_ t: Tracee) throws -> ThreadImage {
        let isLeader = t.tid == frozen.pid
        let inj = isLeader ? leaderInjection! : try injection(for: t)
        var regs = inj.originalRegisters
        // A wait an earlier stop broke off, which the kernel carries on in
        // restart_syscall: the image names the call itself, so that the
        // restore can start it over.
        if let wchan = frozen.waitChannels[t.tid], let call = SyscallRestart.restartedCall(waitChannel: wchan, registers: regs) {
            regs.origRax = UInt64(call)
        }
        let results = try inj.checkedAll([
            ("robust list", SyscallRequest(Syscall.getRobustList, 0, scratch, scratch + 8)),
            ("PR_GET_TID_ADDRESS", SyscallRequest(Syscall.prctl, 40, scratch + 16)),
            ("alternate stack", SyscallRequest(Syscall.sigaltstack, 0, scratch + 32)),
            ("PR_GET_PDEATHSIG", SyscallRequest(Syscall.prctl, 2, scratch + 56)),
            ("PR_GET_TIMERSLACK", SyscallRequest(Syscall.prctl, 30)),
        ], alsoRunning: [
            // ENOSYS on a kernel without NUMA: the default policy.
            SyscallRequest(Syscall.getMempolicy, scratch + 64, scratch + 128, MemoryPolicyLayout.maxNodes, 0, 0),
        ])
        let timerSlack = UInt64(results[4])
        let policy = results[5]
        let answers = try inj.fetch(at: 0, count: 128 + MemoryPolicyLayout.maskBytes)
        if !isLeader { try inj.finish() }
        let name = (try? ProcFile.text("/proc/\(frozen.pid)/task/\(t.tid)/comm", pid: frozen.pid)) ?? ""
        let status = try ProcStatus.read(pid: frozen.pid, tid: t.tid)
        var image = ThreadImage(
            tid: t.tid,
            name: name.trimmingCharacters(in: .newlines),
            registers: regs,
            extendedState: Data(try t.extendedState()),
            signalMask: inj.originalSignalMask,
            pendingSignals: try t.pendingSignals(shared: false).map { PendingSignal(signal: $0.signal, info: Data($0.bytes)) },
            rseq: try t.rseqConfiguration(),
            robustListHead: answers.le(UInt64.self, at: 0),
            robustListLength: answers.le(UInt64.self, at: 8),
            clearChildTid: answers.le(UInt64.self, at: 16),
            alternateStack: AlternateStack(base: answers.le(UInt64.self, at: 32), flags: answers.le(Int32.self, at: 40),
                                           size: answers.le(UInt64.self, at: 48)),
            stoppedIn: regs.interruptedSyscall.map { SyscallNames.name($0) })
        image.noNewPrivs = status.noNewPrivs
        let deathSignal = answers.le(Int32.self, at: 56)
        image.parentDeathSignal = deathSignal == 0 ? nil : deathSignal
        image.timerSlack = timerSlack
        if policy == 0 {
            image.memoryPolicy = MemoryPolicyLayout.decode(mode: Array(answers[64..<68]), mask: Array(answers[128...]))
        }
        image.scheduling = try SchedulingState.read(tid: t.tid)
        image.seccompFilters = try SeccompFilters.read(t, mode: status.seccompMode)
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
    func signalActions() throws -> [SignalActionImage] {
        let inj = leaderInjection!
        let signals = (Int32(1)...64).filter { $0 != SIGKILL && $0 != SIGSTOP }
        // struct sigaction as the kernel writes it: handler, flags, restorer, mask.
        let size = 32
        _ = try inj.checkedAll(signals.enumerated().map { i, sig in
            ("reading the handler of \(SignalNames.name(sig))", SyscallRequest(Syscall.rtSigaction, UInt64(sig), 0, scratch + UInt64(i * size), 8))
        })
        let answers = try inj.fetch(at: 0, count: signals.count * size)
        var result: [SignalActionImage] = []
        for (i, sig) in signals.enumerated() {
            let at = i * size
            // The first injected call reset an ignored SIGTRAP to SIG_DFL.
            let handler = sig == SIGTRAP && trapIgnored ? 1 : answers.le(UInt64.self, at: at)
            let action = SignalActionImage(signal: sig, handler: handler, flags: answers.le(UInt64.self, at: at + 8),
                                           restorer: answers.le(UInt64.self, at: at + 16), mask: answers.le(UInt64.self, at: at + 24))
            if action.handler != 0 || action.flags != 0 || action.mask != 0 { result.append(action) }
        }
        return result
    }

    func intervalTimers() throws -> [IntervalTimerImage] {
        let inj = leaderInjection!
        var result: [IntervalTimerImage] = []
        _ = try inj.checkedAll((0...2).map { which in
            ("getitimer", SyscallRequest(Syscall.getitimer, UInt64(which), scratch + UInt64(which * 32)))
        })
        let answers = try inj.fetch(at: 0, count: 3 * 32)
        for which in Int32(0)...2 {
            let at = Int(which) * 32
            let interval = answers.le(UInt64.self, at: at) * 1_000_000 + answers.le(UInt64.self, at: at + 8)
            let value = answers.le(UInt64.self, at: at + 16) * 1_000_000 + answers.le(UInt64.self, at: at + 24)
            if interval != 0 || value != 0 {
                result.append(IntervalTimerImage(which: which, intervalMicroseconds: interval, valueMicroseconds: value))
            }
        }
        return result
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

    /// Subreaper, dumpable and THP-disabled, asked of the leader.
    func controls() throws -> ProcessControls {
        let inj = leaderInjection!
        let barriers = MembarrierRegistration.commands
        let results = try inj.checkedAll([
            ("PR_GET_CHILD_SUBREAPER", SyscallRequest(Syscall.prctl, 37, scratch)),
            ("PR_GET_DUMPABLE", SyscallRequest(Syscall.prctl, 3)),
            ("PR_GET_THP_DISABLE", SyscallRequest(Syscall.prctl, 42)),
        ], alsoRunning: barriers.map(MembarrierRegistration.issue) + [
            // EINVAL on kernels without KSM: nothing to keep.
            SyscallRequest(Syscall.prctl, 68), // PR_GET_MEMORY_MERGE
        ])
        let subreaper = try inj.fetch(at: 0, count: 4).le(Int32.self, at: 0)
        var controls = ProcessControls(childSubreaper: subreaper != 0, dumpable: Int32(results[1]), hugePagesDisabled: results[2] != 0)
        controls.coredumpFilter = UInt32(try ProcFile.text("/proc/\(frozen.pid)/coredump_filter", pid: frozen.pid)
            .trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
        let registered = zip(barriers, results.dropFirst(3)).filter { $0.1 == 0 }.map(\.0)
        controls.membarriers = registered.isEmpty ? nil : registered
        controls.mergeAllMemory = results.last == 1 ? true : nil
        return controls
    }

    func currentBrk() throws -> UInt64 {
        try leaderInjection!.checked("brk(0)", Syscall.brk, 0)
    }
}
