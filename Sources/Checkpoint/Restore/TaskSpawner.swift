import Glibc
import Ptrace

/// Creating tasks with the ids they had, by a clone3 with set_tid
/// injected into the task that is to be their parent (or the process
/// they join). The kernel attaches the new task to crtool (TRACEFORK,
/// TRACECLONE), and it stops before running any user code.
enum TaskSpawner {
    enum Kind {
        case thread
        case process
    }

    /// A task's id in each PID namespace it is in, crtool's first, and the
    /// one clone3 returns to the task that makes it.
    struct IDs {
        var all: [Int32]
        var returned: Int32
    }

    static func spawn(_ kind: Kind, ids: IDs, in owner: Int32, with inj: RemoteSyscall) throws -> Tracee {
        let id = ids.all[0]
        let flags: UInt64
        let exitSignal: UInt64
        switch kind {
        case .thread:
            flags = threadFlags
            exitSignal = 0
        case .process:
            flags = 0
            exitSignal = UInt64(SIGCHLD)
        }
        let args = try stageCloneArgs(flags: flags, exitSignal: exitSignal, setTid: ids.all.reversed(), with: inj)
        var r: Int64 = 0
        try PidAvailability.retryWhileLingering(id) {
            r = try inj.call(Syscall.clone3, args.address, args.size)
            return r == -Int64(EEXIST)
        }
        let what = description(kind, id, of: owner)
        if r < 0 {
            throw CheckpointError("cannot create \(what): \(ErrnoNames.name(Int32(-r)))\(r == -Int64(EEXIST) ? PidAvailability.groupOrSessionHolding(id) : "")")
        }
        let created = inj.takeNewTasks()
        guard Int64(ids.returned) == r, created.contains(id) else {
            discard(created, owner: owner)
            throw CheckpointError("\(what) was created as \(r)")
        }
        return try adoptNew(id, pid: kind == .thread ? owner : id, what: "new \(what)")
    }

    /// clone3's flags for a thread: VM FS FILES SIGHAND THREAD SYSVSEM.
    private static let threadFlags: UInt64 = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000

    /// A task just created, once it stops before running any user code.
    private static func adoptNew(_ tid: Int32, pid: Int32, what: String) throws -> Tracee {
        let tracee = Tracee.adopt(tid: tid, pid: pid)
        let stop = try tracee.waitStop()
        guard case .eventStop = stop else {
            throw CheckpointError("\(what) \(stop) instead of waiting for its state")
        }
        return tracee
    }

    /// An injector for `child`, forked from `inj`'s process: its memory is
    /// a copy of the parent's, so it injects through the same site and
    /// scratch area.
    static func injector(for child: Tracee, forkedFrom inj: RemoteSyscall) throws -> RemoteSyscall {
        let injector = try RemoteSyscall(tracee: child, site: inj.site, memory: RemoteMemory(pid: child.pid))
        injector.scratch = inj.scratch
        injector.scratchSize = inj.scratchSize
        return injector
    }

    /// Points a stopped task at the syscall instruction at `site`, to
    /// make the call `number` when it is resumed.
    private static func aim(_ tracee: Tracee, at site: UInt64, calling number: Int64, _ first: UInt64, _ second: UInt64 = 0) throws {
        var regs = try tracee.registers()
        regs.rip = site
        regs.origRax = UInt64.max
        regs.rax = UInt64(number)
        regs.rdi = first
        regs.rsi = second
        try tracee.setRegisters(regs)
    }

    /// A task made from inside a user namespace of the tree (a thread of
    /// a process that entered it, a child of one born there): clone3
    /// takes set_tid there only for the PID namespaces that user
    /// namespace owns, which are all but crtool's (`UserNamespaceLayout`).
    /// For crtool's, crtool sets ns_last_pid just below the id and the
    /// kernel gives the next one. A task made elsewhere on the host in
    /// between takes it: the task made with another id is ended, and the
    /// next try sets it again.
    static func spawnAfterLastPid(_ kind: Kind, ids: IDs, in owner: Int32, with inj: RemoteSyscall, tries: Int = 50) throws -> Tracee {
        var made: [Int32] = []
        for _ in 0..<tries {
            let attempt = try spawnOnceAfterLastPid(kind, ids: ids, in: owner, with: inj, reapedBy: inj)
            if let task = attempt.task { return task }
            made = attempt.made
        }
        throw CheckpointError("cannot create \(description(kind, ids.all[0], of: owner)): another task took that id each of \(tries) times, the last one \(made)")
    }

    /// One try of `spawnAfterLastPid`: nil when another task took the id,
    /// with the tasks made instead (ended). `extraFlags`: CLONE_PARENT,
    /// for a process made by a helper as a child of the helper's parent,
    /// `reapedBy`.
    static func spawnOnceAfterLastPid(_ kind: Kind, ids: IDs, in owner: Int32, with inj: RemoteSyscall, extraFlags: UInt64 = 0,
                                      reapedBy reaper: RemoteSyscall) throws -> (task: Tracee?, made: [Int32]) {
        let id = ids.all[0]
        let flags = (kind == .thread ? threadFlags : 0) | extraFlags
        // A child of the caller's parent takes the caller's exit signal:
        // clone3 refuses one of its own.
        let exitSignal = kind == .thread || extraFlags & cloneParent != 0 ? 0 : UInt64(SIGCHLD)
        let args = try stageCloneArgs(flags: flags, exitSignal: exitSignal, setTid: ids.all.dropFirst().reversed(), with: inj)
        let what = description(kind, id, of: owner)
        try LocalFile.writeControl("\(id - 1)", to: lastPidFile, pid: owner)
        let r = try inj.call(Syscall.clone3, args.address, args.size)
        if r < 0 { throw CheckpointError("cannot create \(what): \(ErrnoNames.name(Int32(-r)))") }
        let made = inj.takeNewTasks()
        for other in made where other != id {
            if kind == .thread {
                try endThread(other, of: owner, site: inj.site)
            } else {
                discard([other], owner: other)
                try reaper.checked("reaping process \(other), made instead of \(id)", Syscall.wait4, UInt64(r), 0, 0x4000_0000, 0)
            }
        }
        guard made.contains(id) else { return (nil, made) }
        return (try adoptNew(id, pid: kind == .thread ? owner : id, what: "new \(what)"), made)
    }

    static let cloneParent: UInt64 = 0x8000

    /// Stages clone3's struct clone_args (and its set_tid array, the
    /// innermost namespace's id first) in `inj`'s scratch area.
    private static func stageCloneArgs(flags: UInt64, exitSignal: UInt64, setTid: [Int32],
                                       with inj: RemoteSyscall) throws -> (address: UInt64, size: UInt64) {
        let tidArray = setTid.isEmpty ? 0 : try inj.stage(setTid.flatMap { [UInt8].le(UInt32(bitPattern: $0)) }, at: 512)
        let args = [UInt8].le(flags, 0, 0, 0, exitSignal, 0, 0, 0, tidArray, UInt64(setTid.count))
        return (try inj.stage(args, at: 0), UInt64(args.count))
    }

    private static func description(_ kind: Kind, _ id: Int32, of owner: Int32) -> String {
        kind == .thread ? "thread \(id) of pid \(owner)" : "process \(id) as a child of \(owner)"
    }

    private static let lastPidFile = "/proc/sys/kernel/ns_last_pid"

    /// Makes a thread just created (and not yet run) exit by itself.
    private static func endThread(_ tid: Int32, of owner: Int32, site: UInt64) throws {
        let tracee = Tracee.adopt(tid: tid, pid: owner)
        _ = try tracee.waitStop()
        try aim(tracee, at: site, calling: Syscall.exit, 0)
        try tracee.resume()
        while let stop = try? tracee.waitStop(), !stop.isGone { try tracee.resume() }
    }

    /// A process forked from `inj`'s with whatever pid the kernel gives
    /// it, for work that leaves a process changed for good (entering a
    /// user namespace), and discarded with `endHelper` before the restore
    /// makes anything else: no pid of the image can be taken meanwhile.
    static func spawnHelper(from inj: RemoteSyscall) throws -> (inj: RemoteSyscall, pidInParent: Int32) {
        let args = try stageCloneArgs(flags: 0, exitSignal: UInt64(SIGCHLD), setTid: [], with: inj)
        let r = try inj.call(Syscall.clone3, args.address, args.size)
        let owner = inj.tracee.pid
        guard r > 0 else { throw CheckpointError("cannot fork a helper from pid \(owner): \(ErrnoNames.name(Int32(-r)))") }
        let created = inj.takeNewTasks()
        guard created.count == 1, let id = created.first else {
            discard(created, owner: owner)
            throw CheckpointError("forking a helper from pid \(owner) made \(created.count) tasks")
        }
        let tracee = try adoptNew(id, pid: id, what: "the helper \(id) forked from pid \(owner)")
        return (try injector(for: tracee, forkedFrom: inj), Int32(r))
    }

    /// Kills a helper and has its parent reap it (crtool, its tracer,
    /// sees it end first); the SIGCHLD it leaves is taken off the
    /// parent's queue with the restore's others.
    static func endHelper(_ helper: RemoteSyscall, pidInParent: Int32, parent inj: RemoteSyscall) throws {
        let pid = helper.tracee.pid
        discard([pid], owner: pid)
        try inj.checked("reaping the helper \(pid)", Syscall.wait4, UInt64(UInt32(bitPattern: pidInParent)), 0, 0x4000_0000, 0)
    }

    /// Kills and reaps tasks made with other ids than the image's: the
    /// restore's cleanup knows only the image's tasks, and would wait
    /// for its processes while one of these held on to their pids.
    private static func discard(_ tasks: [Int32], owner: Int32) {
        for tid in tasks {
            let t = Tracee.adopt(tid: tid, pid: owner)
            _ = kill(tid, SIGKILL)
            while let stop = try? t.waitStop(), !stop.isGone {}
        }
    }

    /// Makes a freshly created process exit with a zombie's wait status:
    /// exit_group for an exit code, its own default-action signal for a
    /// death by signal. crtool, as tracer, collects the exit first; the
    /// zombie then waits for its real parent.
    static func exit(_ tracee: Tracee, status: Int32, site: UInt64) throws {
        let signal = status & 0x7f
        if signal == 0 {
            try aim(tracee, at: site, calling: Syscall.exitGroup, UInt64((status >> 8) & 0xff))
        } else {
            try aim(tracee, at: site, calling: Syscall.kill, UInt64(tracee.ownIDs.pid), UInt64(signal))
        }
        try tracee.setSignalMask(0)
        try tracee.resume()
        while true {
            let stop = try tracee.waitStop()
            switch stop {
            case .exited, .killed:
                return
            case .signalDelivery(let sig):
                try tracee.resume(signal: sig)
            default:
                try tracee.resume()
            }
        }
    }
}
