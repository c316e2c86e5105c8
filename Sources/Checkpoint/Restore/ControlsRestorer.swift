import Ptrace

/// The prctl settings a program made for itself, set again in the
/// restored process once its credentials are back: a change of uid resets
/// the dumpable flag, so it comes last.
enum ControlsRestorer {
    static func restore(_ process: ProcessImage, isRoot: Bool, with inj: RemoteSyscall, warnings: inout [String]) throws {
        if isRoot, let t = process.threads.first(where: { $0.parentDeathSignal != nil }) {
            warnings.append("thread \(t.tid) of pid \(process.pid) asked for \(SignalNames.name(t.parentDeathSignal!)) when its parent dies; "
                + "that parent is not in the image, so the restored thread does not have it")
        }
        guard let c = process.controls else { return }
        if c.childSubreaper {
            try inj.checked("PR_SET_CHILD_SUBREAPER", Syscall.prctl, 36, 1)
        }
        if c.hugePagesDisabled {
            try inj.checked("PR_SET_THP_DISABLE", Syscall.prctl, 41, 1, 0, 0, 0)
        }
        if c.mergeAllMemory == true {
            let r = try inj.call(Syscall.prctl, 67, 1) // PR_SET_MEMORY_MERGE
            if r < 0 { warnings.append("pid \(process.pid) no longer offers all its memory to KSM: \(ErrnoNames.name(Int32(-r)))") }
        }
        for command in c.membarriers ?? [] {
            try MembarrierRegistration.register(command, inj: inj, pid: process.pid, warnings: &warnings)
        }
        if let filter = c.coredumpFilter {
            do {
                // Read in base 0: hexadecimal needs its 0x.
                try LocalFile.writeControl("0x" + String(filter, radix: 16), to: "/proc/\(process.pid)/coredump_filter", pid: process.pid)
            } catch {
                warnings.append("pid \(process.pid) keeps the default coredump_filter instead of \(String(filter, radix: 16)): \(error)")
            }
        }
        switch c.dumpable {
        case 0, 1:
            try inj.checked("PR_SET_DUMPABLE", Syscall.prctl, 4, UInt64(c.dumpable))
        default:
            // SUID_DUMP_ROOT comes only from the fs.suid_dumpable sysctl.
            warnings.append("pid \(process.pid) was dumpable only by root (fs.suid_dumpable 2), which a process cannot ask for; it is dumpable again")
            try inj.checked("PR_SET_DUMPABLE", Syscall.prctl, 4, 1)
        }
    }

    /// The per-thread ones. A parent-death signal is set only where the
    /// parent is restored too: the root's parent is crtool, and the
    /// signal would come as soon as crtool exits.
    static func restore(_ t: ThreadImage, parentInImage: Bool, with inj: RemoteSyscall) throws {
        if let signal = t.parentDeathSignal, parentInImage {
            try inj.checked("PR_SET_PDEATHSIG", Syscall.prctl, 1, UInt64(signal))
        }
        // 0 is a real-time thread's, which has no slack; prctl would read
        // it as "back to the default".
        if let slack = t.timerSlack, slack != 0 {
            try inj.checked("PR_SET_TIMERSLACK", Syscall.prctl, 29, slack)
        }
    }
}
