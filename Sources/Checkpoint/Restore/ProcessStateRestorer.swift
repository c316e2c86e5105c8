import Foundation
import Ptrace

/// Process-wide state put back by injection into the restored leader:
/// signal handlers, umask, personality, limits, timers, working
/// directory, root and open files.
enum ProcessStateRestorer {
    /// The audit login uid, which a restored process would otherwise take
    /// from crtool (so that audit records of a user's job restored from a
    /// root shell would name root's login). Only a task may write its own,
    /// and only while it has CAP_AUDIT_CONTROL: by injection, before the
    /// credentials drop. The kernel gives it a new audit session id.
    /// One born inside a user namespace, where it may not, has it from
    /// the helper it was forked from (`UserNamespaceMaker.bearFirst`), or
    /// from its parent, so it is compared with the task's own.
    static func restoreLoginUID(_ process: ProcessImage, with inj: RemoteSyscall, warnings: inout [String]) throws {
        guard let wanted = process.loginUID,
              let own = UInt32((try? ProcFile.text("/proc/\(inj.tracee.tid)/loginuid"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""),
              own != wanted else { return }
        let fd = try inj.call(Syscall.openat, UInt64(bitPattern: -100), try inj.stage(string: "/proc/self/loginuid"), UInt64(O_WRONLY | O_CLOEXEC), 0)
        guard fd >= 0 else {
            warnings.append("pid \(process.pid) keeps the audit login uid \(own) instead of \(wanted): \(ErrnoNames.name(Int32(-fd)))")
            return
        }
        defer { _ = try? inj.call(Syscall.close, UInt64(fd)) }
        let text = Array("\(wanted)".utf8)
        let written = try inj.call(Syscall.write, UInt64(fd), try inj.stage(text, at: 256), UInt64(text.count))
        if written != Int64(text.count) {
            warnings.append("pid \(process.pid) keeps the audit login uid \(own) instead of \(wanted): "
                + (written < 0 ? ErrnoNames.name(Int32(-written)) : "short write"))
        }
    }

    /// chroot, once nothing more is opened by path in the process: every
    /// path in the image (working directory, files, mappings, socket
    /// names) was read from crtool's root, and so is looked up from it.
    static func enterRoot(_ process: ProcessImage, with inj: RemoteSyscall) throws {
        guard process.root != "/" else { return }
        try inj.checked("chroot to \(process.root)", Syscall.chroot, try inj.stage(string: process.root))
    }

    /// `lastTaken`: given the context once the image's descriptors are
    /// made, before the pidfd of crtool is closed, for a descriptor the
    /// process needs later (its user namespace's).
    static func restore(_ process: ProcessImage, with inj: RemoteSyscall, openFiles: OpenFileRegistry,
                        shellTerminal: UInt64? = nil, lastTaken: (FileRestoreContext) throws -> Void = { _ in },
                        warnings: inout [String]) throws {
        // Every signal gets the image's action, or SIG_DFL: dispositions set
        // to SIG_IGN survive exec, so the stub may have inherited crtool's.
        // One trip for all of them (the batch loop): a call each made a
        // tree of 100 shells spend a fifth of a second here.
        let actions = Dictionary(process.signalActions.map { ($0.signal, $0) }, uniquingKeysWith: { a, _ in a })
        let signals = (Int32(1)...64).filter { $0 != SIGKILL && $0 != SIGSTOP }
        var staged: [UInt8] = []
        var handlers: [(what: String, request: SyscallRequest)] = []
        for sig in signals {
            let a = actions[sig] ?? SignalActionImage(signal: sig, handler: 0, flags: 0, restorer: 0, mask: 0)
            handlers.append(("handler of \(SignalNames.name(sig))", SyscallRequest(Syscall.rtSigaction, UInt64(sig), inj.scratch + UInt64(staged.count), 0, 8)))
            staged += [UInt8].le(a.handler, a.flags, a.restorer, a.mask)
        }
        var others: [SyscallRequest] = []
        others.append(SyscallRequest(Syscall.umask, UInt64(process.umask)))
        others.append(SyscallRequest(Syscall.personality, UInt64(process.personality)))
        try inj.stage(staged)
        _ = try inj.checkedAll(handlers, alsoRunning: others)
        for limit in process.limits {
            if let errno = Limits.set(limit, pid: process.pid) {
                warnings.append("limit \(limit.name) could not be set to \(limit.soft)/\(limit.hard): \(ErrnoNames.name(errno))")
            }
        }
        try WorkingDirectory.enter(process, inj: inj, warnings: &warnings)
        try restoreLoginUID(process, with: inj, warnings: &warnings)
        let files = FileRestoreContext(pid: process.pid, inj: inj, files: process.files, registry: openFiles)
        try files.parkCrtoolDescriptor()
        files.shellTerminal = shellTerminal
        files.credentials = process.credentials
        try OpenFiles.restore(process.files, context: files)
        try PacketRings.map(process, with: inj)
        try FileLocks.restore(process.files, context: files)
        try lastTaken(files)
        try files.finish()
        for t in process.intervalTimers {
            let value = [UInt8].le(t.intervalMicroseconds / 1_000_000, t.intervalMicroseconds % 1_000_000,
                                   t.valueToArmMicroseconds / 1_000_000, t.valueToArmMicroseconds % 1_000_000)
            try inj.checked("setitimer(\(t.which))", Syscall.setitimer, UInt64(t.which), try inj.stage(value), 0)
        }
    }

    /// SIGCHLD raised by the restore itself (a zombie made to exit) is not
    /// the process's: take it off the queue before the recorded signals go
    /// back on.
    static func discardRestoreSignals(with inj: RemoteSyscall) throws {
        let mask = try inj.stage([UInt8].le(UInt64(1) << UInt64(SIGCHLD - 1)), at: 1024)
        let zero = try inj.stage([UInt8].le(UInt64(0), UInt64(0)), at: 1040)
        while try inj.call(Syscall.rtSigtimedwait, mask, 0, zero, 8) == Int64(SIGCHLD) {}
    }

    /// Signals pending for the whole process at dump time, queued again
    /// from the leader, which names itself by its own pid: the kernel takes a sender-chosen siginfo (a
    /// kill's, a tgkill's) only from the process itself.
    static func requeueSharedSignals(_ process: ProcessImage, with inj: RemoteSyscall) throws {
        for s in process.sharedPendingSignals {
            let info = try inj.stage([UInt8](s.info))
            try inj.checked("requeueing \(SignalNames.name(s.signal))", Syscall.rtSigqueueinfo, UInt64(inj.tracee.ownIDs.pid), UInt64(s.signal), info)
        }
    }

    /// Signals pending for one thread, queued again by that very thread
    /// (`inj` runs in it): for a thread-directed siginfo the kernel
    /// compares the target with the calling thread, so a tgkill's signal
    /// (Go's preemption SIGURG, a pthread_kill) sent from the leader to
    /// another thread is refused with EPERM.
    static func requeueThreadSignals(_ t: ThreadImage, with inj: RemoteSyscall) throws {
        for s in t.pendingSignals {
            let info = try inj.stage([UInt8](s.info))
            try inj.checked("requeueing \(SignalNames.name(s.signal)) for thread \(t.tid)", Syscall.rtTgsigqueueinfo,
                            UInt64(inj.tracee.ownIDs.pid), UInt64(inj.tracee.ownIDs.tid), UInt64(s.signal), info)
        }
    }
}

/// Per-thread state: creation with its own TID, and what each thread
/// holds alone (clear-tid address, robust list, alternate stack, name,
/// rseq, credentials, registers, mask).
enum ThreadStateRestorer {
    /// Creates every non-leader thread by an injected clone3 with set_tid.
    static func createThreads(_ process: ProcessImage, with inj: RemoteSyscall) throws -> [Int32: Tracee] {
        var tracees: [Int32: Tracee] = [:]
        for t in process.threads where t.tid != process.pid {
            let ids = PidNamespaceMaker.ids(t.tid, namespaceIDs: t.namespaceTids, madeBy: process)
            if process.namespaces?.user != nil {
                tracees[t.tid] = try TaskSpawner.spawnAfterLastPid(.thread, ids: ids, in: process.pid, with: inj)
                continue
            }
            tracees[t.tid] = try TaskSpawner.spawn(.thread, ids: ids, in: process.pid, with: inj)
        }
        return tracees
    }

    static func restorePerThread(_ t: ThreadImage, credentials: Credentials, with inj: RemoteSyscall, warnings: inout [String]) throws {
        // One trip for the thread's own settings; the alternate stack's
        // struct and the name are staged side by side.
        let ss = [UInt8].le(t.alternateStack.base) + [UInt8].le(t.alternateStack.flags & ~1, 0) + [UInt8].le(t.alternateStack.size)
        let name = Array(String(t.name.prefix(15)).utf8.prefix(15)) + [0]
        try inj.stage(ss + [UInt8](repeating: 0, count: 32 - ss.count) + name)
        var calls: [(what: String, request: SyscallRequest)] = []
        if t.robustListHead != 0 {
            calls.append(("set_robust_list", SyscallRequest(Syscall.setRobustList, t.robustListHead, t.robustListLength)))
        }
        if t.alternateStack.flags & 2 == 0 { // not SS_DISABLE
            calls.append(("sigaltstack", SyscallRequest(Syscall.sigaltstack, inj.scratch, 0)))
        }
        calls.append(("PR_SET_NAME", SyscallRequest(Syscall.prctl, 15, inj.scratch + 32)))
        if let rseq = t.rseq {
            calls.append(("rseq registration at 0x\(String(rseq.address, radix: 16))",
                          SyscallRequest(Syscall.rseq, rseq.address, UInt64(rseq.length), 0, UInt64(rseq.signature))))
        }
        if t.noNewPrivs {
            calls.append(("PR_SET_NO_NEW_PRIVS", SyscallRequest(Syscall.prctl, 38, 1, 0, 0, 0)))
        }
        _ = try inj.checkedAll(calls, alsoRunning: [SyscallRequest(Syscall.setTidAddress, t.clearChildTid)])
        // Filters go in while the thread still has the privileges to install
        // them; they do not bind crtool's injected calls (SUSPEND_SECCOMP).
        try SeccompFilters.install(t.seccompFilters, with: inj)
        if let policy = t.memoryPolicy {
            let mask = try inj.stage(MemoryPolicyLayout.maskBytes(of: policy), at: 2048)
            let r = try inj.call(Syscall.setMempolicy, UInt64(UInt32(bitPattern: policy.mode)), mask, MemoryPolicyLayout.maxNodes)
            if r < 0 { warnings.append("thread \(t.tid) runs with the default NUMA policy: its own (mode \(policy.mode), nodes \(policy.nodes)) was refused here: \(ErrnoNames.name(Int32(-r)))") }
        }
        try restoreCredentials(credentials, with: inj)
    }

    /// What crtool sets from outside once every thread of `process` exists
    /// (a thread can be a descriptor's owner, and each has its own
    /// scheduling): scheduling, oom_score_adj, and the owners of
    /// signal-driven descriptors.
    static func restoreOnceThreadsExist(_ process: ProcessImage, with inj: RemoteSyscall, warnings: inout [String]) throws {
        for t in process.threads {
            if let s = t.scheduling { SchedulingState.restore(s, tid: t.tid, pid: process.pid, warnings: &warnings) }
        }
        if let adjust = process.oomScoreAdjust {
            SchedulingState.restoreOOMScoreAdjust(adjust, pid: process.pid, warnings: &warnings)
        }
        // A session leader of the image has called setsid: a new autogroup.
        if let nice = process.autogroupNice, process.sid == process.pid {
            SchedulingState.restoreAutogroupNice(nice, pid: process.pid, warnings: &warnings)
        }
        try SignalDrivenIO.restore(process, with: inj, warnings: &warnings)
        try PosixTimers.restore(process.posixTimers, of: process, with: inj)
    }

    /// Credentials are per thread in the kernel (glibc only makes them
    /// look process-wide), so every thread sets its own, last. Capabilities
    /// survive the change of uid only with PR_SET_KEEPCAPS, and the bounding
    /// set can only shrink while the thread still has CAP_SETPCAP, so the
    /// order is: bounding set, keep-caps, ids, capset, ambient set. Ids
    /// the thread has already are not set again: inside a user namespace
    /// an unmapped one could not be.
    static func restoreCredentials(_ c: Credentials, with inj: RemoteSyscall) throws {
        guard c.uids.count == 4, c.gids.count == 4 else { return }
        // As the thread is now: crtool's, or for a process in a user
        // namespace of its own its ids set already and every capability
        // there (`UserNamespaceMaker.enter`).
        let own = try ProcStatus.read(pid: inj.tracee.tid)
        let sameIds = c.uids == own.uids && c.gids == own.gids && c.groups == own.groups
        let sameCaps = c.capEffective == own.capEffective && c.capPermitted == own.capPermitted
            && c.capInheritable == own.capInheritable && c.capBounding == own.capBounding && c.capAmbient == own.capAmbient
        if sameIds && sameCaps { return }
        for cap in 0..<64 where own.capBounding & (1 << UInt64(cap)) != 0 && c.capBounding & (1 << UInt64(cap)) == 0 {
            try inj.checked("dropping capability \(cap) from the bounding set", Syscall.prctl, 24, UInt64(cap))
        }
        try inj.checked("PR_SET_KEEPCAPS", Syscall.prctl, 8, 1)
        if !sameIds { try setIDs(c, with: inj) }
        try capset(effective: c.capEffective, permitted: c.capPermitted, inheritable: c.capInheritable, what: "capset", with: inj)
        for cap in 0..<64 where c.capAmbient & (1 << UInt64(cap)) != 0 {
            try inj.checked("raising ambient capability \(cap)", Syscall.prctl, 47, 2, UInt64(cap))
        }
        try inj.checked("PR_SET_KEEPCAPS", Syscall.prctl, 8, 0)
    }

    /// The calling thread's three capability sets (capset, version 3).
    static func capset(effective: UInt64, permitted: UInt64, inheritable: UInt64, what: String, with inj: RemoteSyscall) throws {
        let header = try inj.stage([UInt8].le(UInt32(0x2008_0522), UInt32(0)), at: 0)
        let data = try inj.stage([UInt8].le(
            UInt32(truncatingIfNeeded: effective), UInt32(truncatingIfNeeded: permitted), UInt32(truncatingIfNeeded: inheritable),
            UInt32(truncatingIfNeeded: effective >> 32), UInt32(truncatingIfNeeded: permitted >> 32), UInt32(truncatingIfNeeded: inheritable >> 32)), at: 64)
        try inj.checked(what, Syscall.capset, header, data)
    }

    /// Groups, gids and uids, the file system ones last.
    static func setIDs(_ c: Credentials, with inj: RemoteSyscall) throws {
        var groups: [UInt8] = []
        for g in c.groups { groups += [UInt8].le(g) }
        try inj.checked("setgroups", Syscall.setgroups, UInt64(c.groups.count), groups.isEmpty ? 0 : try inj.stage(groups, at: 2048))
        try inj.checked("setresgid", Syscall.setresgid, UInt64(c.gids[0]), UInt64(c.gids[1]), UInt64(c.gids[2]))
        try inj.checked("setresuid", Syscall.setresuid, UInt64(c.uids[0]), UInt64(c.uids[1]), UInt64(c.uids[2]))
        _ = try inj.call(Syscall.setfsgid, UInt64(c.gids[3]))
        _ = try inj.call(Syscall.setfsuid, UInt64(c.uids[3]))
    }

    static func setFinalState(_ t: ThreadImage, on tracee: Tracee) throws {
        try tracee.setRegisters(SyscallRestart.resumable(t.registers))
        if !t.extendedState.isEmpty { try tracee.setExtendedState([UInt8](t.extendedState)) }
        try tracee.setSignalMask(t.signalMask)
    }
}
