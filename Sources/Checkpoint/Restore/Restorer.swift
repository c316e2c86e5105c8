import Foundation
import Glibc
import Ptrace

public struct RestoreOptions: Sendable {
    public var directory: String
    public var quiet = false
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// The stub executable the new processes start from.
    public var stubPath: String = RestoreOptions.defaultStubPath()
    /// How long to wait for a PID still held by a dying process.
    public var pidWaitSeconds = 3.0
    /// Restore into crtool's own session and process group when the
    /// image's session leader is not part of the image (a shell job).
    public var shellJob = false
    /// TCP connections come back reset, for peers that are gone (CRIU's
    /// --tcp-close).
    public var tcpClose = false
    /// Leave every restored process stopped (SIGSTOP), for SIGCONT later
    /// (CRIU's --leave-stopped).
    public var leaveStopped = false
    /// What of this CPU is checked against the image's (CRIU's --cpu-cap).
    public var cpuChecks: CPUChecks = .all
    /// Whether to reach this kernel's vDSO through jumps where the
    /// image's was (--vdso-bridge).
    public var vdsoBridge: VDSOBridgeMode = .auto
    /// crtool's descriptors given for files of the image (--inherit-fd).
    public var inherited: [ExternalFiles.Inherited] = []
    /// Where the tree's cgroups, root and binds go instead of where they
    /// were (--cgroup-root, --root, --ext-mount-map).
    public var relocation = Relocation()
    /// Which of the tree's cgroups are made, and given their saved
    /// settings (--manage-cgroups).
    public var manageCgroups = CgroupManagement.soft
    /// Run before the image is read, before and after the processes are
    /// let go (--action-script).
    public var actionScripts = ActionScripts()

    public init(directory: String) {
        self.directory = directory
    }

    /// crtool-restore-stub beside the running crtool binary.
    public static func defaultStubPath() -> String {
        CompanionExecutable.path("crtool-restore-stub", environment: "CRTOOL_STUB")
    }

    /// For `crtool check`: every restore starts from the stub.
    static var stubFeature: KernelFeature {
        CompanionExecutable.feature("crtool-restore-stub (every restore)", at: defaultStubPath(), required: true,
                                    otherwise: "install it beside crtool, or set CRTOOL_STUB")
    }
}

public struct RestoreReport: Sendable {
    /// The root of the restored tree.
    public var pid: Int32
    public var processes: Int
    public var zombies: Int
    public var threads: Int
    public var vmas: Int
    public var bytesWritten: UInt64
    public var seconds: Double
    public var warnings: [String]
    /// Wall time of each phase, in order, for --verbose.
    public var phases: [(name: String, seconds: Double)] = []
    /// Of `seconds`, those spent waiting for the image's pids to be free:
    /// a dumped process is a zombie until its parent reaps it, and a slow
    /// parent (an init that reaps now and then) makes a quick restore
    /// look slow.
    public var waitedForIDs: Double = 0
    /// Descriptors taken back from crtool-keeper (dump --hold-external),
    /// and the keepers ended once they held nothing more.
    public var takenFromKeepers = 0
    public var keepersEnded: [Int32] = []
    /// The keepers of the dumped tree's write trackers (dump --track-mem)
    /// ended: the tree they tracked is gone.
    public var trackingEnded: [Int32] = []
}

/// Brings an image back as a running process tree with the same PIDs,
/// TIDs, sessions and process groups. Everything is checked before the
/// first process is created, and a restore that fails part way kills
/// what it made: no half-restored process is ever left running. Runs on
/// the tracer thread.
public enum Restorer {
    /// The image opened and checked as a tree, and the files on this host
    /// it names checked against it: everything a restore can know is wrong
    /// before it creates a process. Also returns the warnings for files
    /// written since the dump, for register state this CPU cannot hold
    /// and for a vDSO bridge. `shellJob`: the job's terminal will be
    /// crtool's, so the one it had need not be there. `cpuChecks`: what
    /// of this CPU must match the image's; `vdsoBridge`: whether this
    /// kernel's vDSO may be reached through jumps; `inherited`: the
    /// descriptors given for files of the image; `relocation`: where the
    /// tree's cgroups, root and binds go instead (--cgroup-root, --root,
    /// --ext-mount-map).
    static func verifiedPlan(_ directory: String, workers: Int, shellJob: Bool,
                             cpuChecks: CPUChecks, vdsoBridge: VDSOBridgeMode, inherited: [ExternalFiles.Inherited],
                             relocation: Relocation) throws -> (ImageDirectory, RestorePlan, warnings: [String]) {
        let image = try ImageDirectory.open(at: directory)
        try CPUCompatibility.require(image.manifest, checks: cpuChecks)
        var plan = try RestorePlan.load(image, workers: workers)
        try relocation.apply(to: &plan)
        plan.vdsoBridge = try VDSOCompatibility.plan(image.manifest, processes: plan.processes, mode: vdsoBridge)
        plan.givenNamespaces = try ExternalNamespaces.requireGiven(plan.namespaces, inherited: inherited, joined: plan.givenNamespaces)
        let files = ExternalNamespaces.forFiles(inherited, namespaces: plan.namespaces)
        try ExternalFiles.requireGiven(plan.processes, inherited: files)
        ExternalFiles.markGiven(&plan.processes, inherited: files)
        try ExternalFiles.bindGiven(&plan.namespaces, inherited: files)
        try MountNamespaceCheck.requireMakeable(plan.namespaces)
        try MappedFiles.requireUnchanged(plan.processes, paths: plan.hostPaths)
        try OpenRegularFiles.requireIntact(plan.processes, paths: plan.hostPaths)
        try OpenPaths.requireReachable(plan, shellJob: shellJob)
        try TunFiles.requireDevices(plan.processes)
        try TakenBack.requireHeld(plan.processes)
        let dropped = CPUCompatibility.droppedRegisterState(plan.processes, hostComponents: XSaveArea.hostComponents)
        let bridged = VDSOCompatibility.warnings(for: plan.vdsoBridge, mode: vdsoBridge)
        return (image, plan, dropped + bridged + OpenRegularFiles.writtenSinceDump(plan.processes, paths: plan.hostPaths))
    }

    /// What the tree takes from the host that nothing else may hold: its
    /// listeners' and UDP sockets' addresses (those of the tun devices it
    /// makes there aside), the names of its veth devices' outside ends and
    /// of those tun devices, and the hugetlb pool's pages
    /// (for the System V segments the restore makes, `makingSegments`,
    /// among the rest). Checked once the image's ids are free, since an original
    /// still dying holds them too.
    /// A veth name still taken is waited for `seconds` (the restore's
    /// `pidWaitSeconds`), as the ids are.
    static func requireRoomOnHost(_ plan: RestorePlan, makingSegments: [SysVSharedMemoryImage], seconds: Double) throws {
        try HostTunDevices.requireRoom(plan.processes, seconds: seconds)
        try BoundAddresses.requireFree(plan.processes, comingWith: HostTunDevices.addresses(in: plan.processes))
        try HugePagePool.requireEnough(plan, makingSegments: makingSegments)
        try VethMaker.requireRoom(plan.namespaces, seconds: seconds)
    }

    /// Every restore starts its processes from the stub.
    static func requireStub(_ path: String) throws {
        guard access(path, X_OK) == 0 else {
            throw CheckpointError("the restore stub \(path) is missing or not executable (build it with swift build, or set CRTOOL_STUB)")
        }
    }

    public static func restore(_ options: RestoreOptions) throws -> RestoreReport {
        let started = Date()
        var phases = PhaseTimer()
        OpenFileLimit.raise()
        try options.actionScripts.run(.preRestore, pid: nil, otherwise: "nothing was restored")
        let (image, plan, earlyWarnings) = try verifiedPlan(options.directory, workers: options.workers, shellJob: options.shellJob,
                                                           cpuChecks: options.cpuChecks, vdsoBridge: options.vdsoBridge, inherited: options.inherited,
                                                           relocation: options.relocation)
        phases.mark("verify")
        let waitStarted = Date()
        for id in plan.allIDs {
            try PidAvailability.waitUntilFree(id, seconds: options.pidWaitSeconds, role: "id")
        }
        let waitedForIDs = Date().timeIntervalSince(waitStarted)
        phases.mark("wait for ids")
        let sysvMissing = try plan.sysvIPC.map { try SysVIPCRestorer.missing($0) }
        let givenIPC = try GivenIPCNamespaces(plan.namespaces, given: plan.givenNamespaces)
        try requireRoomOnHost(plan, makingSegments: (sysvMissing?.segments ?? []) + givenIPC.segmentsToMake, seconds: options.pidWaitSeconds)
        try requireStub(options.stubPath)
        let cgroups = CgroupPlacement.here(given: plan.givenCgroups, mode: options.manageCgroups, saved: plan.cgroups)
        try cgroups.requireThawed(plan.processes)
        try cgroups.requireRoots(of: plan.namespaces)

        let registry = OpenFileRegistry()
        registry.closesTCPConnections = options.tcpClose
        registry.inherited = ExternalNamespaces.forFiles(options.inherited, namespaces: plan.namespaces)
        registry.hostPaths = plan.hostPaths
        defer { registry.finish() }
        let sharedMemory = try SharedMemoryRestorer.load(plan.sharedMemory, image: image, registry: registry)
        registry.sharedMemory = sharedMemory
        try PtyMasters.prepare(plan.processes, registry: registry)
        let shellTerminal = TerminalRestorer.shellTerminal(plan, shellJob: options.shellJob)
        let sysvIPC = try SysVIPCRestorer.prepare(plan.sysvIPC, missing: sysvMissing, image: image)
        let tree = RestoredTree()
        let namespaces = try NamespaceRestorer(plan.namespaces, image: image, cgroups: cgroups, given: plan.givenNamespaces)
        registry.courier = namespaces.users.courier
        let pidNamespaces = PidNamespaceMaker()
        var warnings = earlyWarnings
        var hostTuns: [String] = []
        do {
            try Interrupted.check(Interrupted.restoreGivenUp)
            try givenIPC.prepare(image: image)
            hostTuns = try HostTunDevices.make(plan.processes)
            try cgroups.prepare(plan.processes, namespaces: plan.namespaces)
            try createTree(plan, tree: tree, options: options, cgroups: cgroups, namespaces: namespaces, pidNamespaces: pidNamespaces,
                           warnings: &warnings)
            try PtyMasters.prepareInNamespaces(plan.processes, registry: registry)
            registry.networkNamespaces = namespaces.networkNamespaces
            let outsideEnds = namespaces.outsideEnds
            registry.whenReleasing(.packets, once: "veth outside ends") { try VethMaker.raise(outsideEnds) }
            for n in plan.namespaces {
                guard let table = n.networkLock, let given = namespaces.networkNamespaces[n.id] else { continue }
                NetworkLock.releaseWhenRestored(table, in: given, registry: registry)
            }
            let killed = "the restored processes were killed before they ran"
            if !plan.namespaces.isEmpty { try options.actionScripts.run(.setupNamespaces, pid: plan.root.pid, otherwise: killed) }
            try Interrupted.check(Interrupted.restoreGivenUp)
            registry.injectors = tree.builders.mapValues(\.inj)
            phases.mark("create")
            var written: UInt64 = 0
            let total = plan.processes.reduce(UInt64(0)) { $0 + $1.vmas.reduce(0) { $0 + $1.pagesStored * 4096 } }
            let progress = Progress(label: "restore", total: total, quiet: options.quiet)
            defer { progress.finish() }
            for process in plan.processes {
                let builder = tree.builders[process.pid]!
                try builder.mapAll(sharedMemory: sharedMemory, registry: registry)
                phases.mark("mappings")
                let reader = plan.pageReaders[process.pid]!
                written += try builder.writePages(reader: reader, inherited: plan.inheritedPages[process.pid] ?? [],
                                                  workers: options.workers, progress: progress)
                reader.closeFiles()
                phases.mark("pages")
                try builder.finishMappings()
                try builder.setMemoryLayout(sharedMemory: sharedMemory, registry: registry)
                warnings += builder.warnings
                try ProcessStateRestorer.restore(process, with: builder.inj, openFiles: registry,
                                                 shellTerminal: process.sid == plan.root.sid ? shellTerminal : nil,
                                                 lastTaken: { try namespaces.users.plant(process, through: $0) }, warnings: &warnings)
                phases.mark("files and state")
                try Interrupted.check(Interrupted.restoreGivenUp)
            }
            progress.finish()
            try registry.allFilesMade()
            warnings += SharedMemoryRestorer.seal(plan.sharedMemory, memfds: sharedMemory)
            for process in plan.processes {
                try ProcessStateRestorer.enterRoot(process, with: tree.builders[process.pid]!.inj)
            }
            phases.mark("files and state")
            try sysvIPC.finish()
            try givenIPC.finish()
            try namespaces.finishSysVIPC()
            for process in plan.processes {
                let inj = tree.builders[process.pid]!.inj
                try pidNamespaces.bearChildren(of: process, in: process.namespaces?.pid, with: inj)
                try namespaces.users.enter(process, procTextFiles: registry.procTextFiles[process.pid] ?? [], with: inj)
                var byTid = try ThreadStateRestorer.createThreads(process, with: inj)
                try pidNamespaces.settle(process, with: inj)
                byTid[process.pid] = tree.leaders[process.pid]!
                tree.threads[process.pid] = byTid
                try ThreadStateRestorer.restoreOnceThreadsExist(process, with: inj, warnings: &warnings)
            }
            try SessionRestorer.restoreGroups(plan, tree: tree, warnings: &warnings)
            try TerminalRestorer.restoreControllingTerminals(plan, tree: tree, warnings: &warnings)
            try TerminalRestorer.takeShellForeground(plan, tree: tree, shellTerminal: shellTerminal, warnings: &warnings)
            for process in plan.processes {
                let inj = tree.builders[process.pid]!.inj
                for t in process.threads where t.tid != process.pid {
                    let ti = try RemoteSyscall(tracee: tree.threads[process.pid]![t.tid]!, site: inj.site, memory: inj.memory)
                    ti.scratch = inj.scratch
                    ti.scratchSize = inj.scratchSize
                    ti.useBatchRunner(of: inj)
                    try ProcessStateRestorer.requeueThreadSignals(t, with: ti)
                    try ThreadStateRestorer.restorePerThread(t, credentials: process.credentials, with: ti, warnings: &warnings)
                    try ControlsRestorer.restore(t, parentInImage: process.pid != plan.root.pid, with: ti)
                }
                try ProcessStateRestorer.discardRestoreSignals(with: inj)
                try ProcessStateRestorer.requeueSharedSignals(process, with: inj)
                if let leaderImage = process.threads.first(where: { $0.tid == process.pid }) {
                    try ProcessStateRestorer.requeueThreadSignals(leaderImage, with: inj)
                    try ThreadStateRestorer.restorePerThread(leaderImage, credentials: process.credentials, with: inj, warnings: &warnings)
                    try ControlsRestorer.restore(leaderImage, parentInImage: process.pid != plan.root.pid, with: inj)
                }
                try ControlsRestorer.restore(process, isRoot: process.pid == plan.root.pid, with: inj, warnings: &warnings)
            }
            // Scratch areas go last, each from its own syscall instruction,
            // stopping at the call's exit rather than single-stepping: no
            // SIGTRAP after the one that puts an ignored SIGTRAP back.
            for process in plan.processes {
                let builder = tree.builders[process.pid]!
                try builder.inj.returnScratch(at: builder.scratchBase, size: UInt64(AddressSpaceBuilder.scratchSize),
                                              trapIgnored: process.signalActions.contains { $0.signal == SIGTRAP && $0.handler == 1 })
                for t in process.threads {
                    try ThreadStateRestorer.setFinalState(t, on: tree.threads[process.pid]![t.tid]!)
                }
            }
            try options.actionScripts.run(.postRestore, pid: plan.root.pid, otherwise: killed)
            try registry.releasing()
            try options.actionScripts.run(.preResume, pid: plan.root.pid, otherwise: killed)
            try Interrupted.check(Interrupted.restoreGivenUp)
            for process in plan.processes {
                // Queued while every thread is still held, SIGSTOP puts the
                // process back in its job-control stop as soon as it is let
                // go, before it runs a single instruction.
                if process.stopped == true || options.leaveStopped { kill(process.pid, SIGSTOP) }
                for t in tree.threads[process.pid]!.values { try t.detach() }
            }
            tree.released = true
            let keepers = TakenBack.endKeepers(of: plan.processes)
            let trackingEnded = plan.trackers.filter { (try? TakenBack.endKeeper($0).get()) == true }.map(\.pid)
            warnings += keepers.warnings
            phases.mark("threads and release")
            do {
                try options.actionScripts.run(.postResume, pid: plan.root.pid, otherwise: "the restored processes run on")
            } catch {
                warnings.append("\(error)")
            }
            return RestoreReport(pid: plan.root.pid, processes: plan.processes.count, zombies: plan.zombies.count,
                                 threads: plan.processes.reduce(0) { $0 + $1.threads.count },
                                 vmas: plan.processes.reduce(0) { $0 + $1.vmas.count },
                                 bytesWritten: written, seconds: Date().timeIntervalSince(started), warnings: warnings,
                                 phases: phases.phases, waitedForIDs: waitedForIDs,
                                 takenFromKeepers: plan.processes.reduce(0) { $0 + $1.files.filter { $0.heldOutside?.isKeeper == true && $0.external != true }.count },
                                 keepersEnded: keepers.ended, trackingEnded: trackingEnded)
        } catch {
            // Before the kill, which would hide one killed from outside
            // among crtool's own. The image's zombies, which end by
            // design, are not among the leaders.
            let made = tree.leaders.keys.sorted()
            let names = Dictionary(plan.processes.map { ($0.pid, $0.command) }, uniquingKeysWith: { a, _ in a })
            let error = EndedMidway.explaining(error, operation: "restore", pids: made, names: names) { _ in
                "every process the restore had made was killed"
            }
            registry.undoMade()
            tree.killAll(reaping: plan.processes.map(\.pid) + plan.zombies.map(\.pid))
            cgroups.removeMade()
            sysvIPC.undo()
            givenIPC.undo()
            VethMaker.remove(namespaces.outsideEnds)
            HostTunDevices.remove(hostTuns)
            throw error
        }
    }

    /// Creates every process as a stub stripped to its scratch area and
    /// vDSO, parents before children, each forked from its own parent;
    /// session leaders call setsid before they have children; zombies are
    /// created and made to exit. Each process enters its namespaces and
    /// joins its cgroups as soon as it exists: its children inherit the
    /// namespaces, and the memory the restore gives it is charged where
    /// its limits are.
    static func createTree(_ plan: RestorePlan, tree: RestoredTree, options: RestoreOptions, cgroups: CgroupPlacement,
                           namespaces: NamespaceRestorer, pidNamespaces: PidNamespaceMaker, warnings: inout [String]) throws {
        let root = plan.root
        // Every process made inherits it at 3, until its files are made
        // (CrtoolPidFD): one in a PID namespace of its own cannot name
        // crtool to open it. A root in a PID namespace of its own is that
        // namespace's first process (PidNamespaceLayout).
        let crtool = try PidFD(pid: getpid())
        // A root born inside its user namespace is made from a stand-in
        // for its parent, which ends once the root has its namespaces.
        let standIn = namespaces.users.isBornInside(root) ? try StandInParent(stub: options.stubPath, handing: crtool.fd) : nil
        defer { standIn?.end() }
        if let standIn {
            try namespaces.enterGiven(of: root, with: standIn.inj)
            let leader = try namespaces.users.bearFirst(root, from: standIn.inj, warnings: &warnings)
            tree.add(leader)
            try adopt(root, leader: leader, tree: tree, plan: plan, warnings: &warnings)
        } else {
            try spawnRoot(root, handing: crtool, tree: tree, plan: plan, options: options, warnings: &warnings)
        }
        pidNamespaces.made(root)
        try namespaces.enter(root, parent: nil, parentInjector: standIn?.inj, with: tree.builders[root.pid]!.inj, warnings: &warnings)
        standIn?.end()
        try cgroups.place(root, from: cgroups.start(parent: nil, namespaceRoots: namespaces.cgroupRootsMade(by: root.pid)), warnings: &warnings)
        let byPid = Dictionary(uniqueKeysWithValues: plan.processes.map { ($0.pid, $0) })
        for process in plan.processes where process.pid != root.pid {
            let parentImage = byPid[process.ppid]!
            let parent = tree.builders[process.ppid]!.inj
            let child = try spawn(process, parent: parentImage, with: parent, namespaces: namespaces, pidNamespaces: pidNamespaces,
                                  warnings: &warnings)
            tree.add(child)
            try adopt(process, leader: child, tree: tree, plan: plan, warnings: &warnings)
            pidNamespaces.made(process)
            try namespaces.enter(process, parent: parentImage, parentInjector: parent, with: tree.builders[process.pid]!.inj, warnings: &warnings)
            try cgroups.place(process, from: cgroups.start(parent: parentImage, namespaceRoots: namespaces.cgroupRootsMade(by: process.pid)),
                          warnings: &warnings)
        }
        for zombie in plan.zombies {
            let parentImage = byPid[zombie.ppid]!
            let parent = tree.builders[zombie.ppid]!.inj
            let child = try spawnChild(ids: PidNamespaceMaker.ids(zombie.pid, namespaceIDs: zombie.namespacePids, madeBy: parentImage),
                                       in: parentImage.namespaces?.pid, of: parentImage, with: parent, namespaces: namespaces,
                                       pidNamespaces: pidNamespaces)
            let inj = try TaskSpawner.injector(for: child, forkedFrom: parent)
            if zombie.sid == zombie.pid {
                try inj.checked("setsid", Syscall.setsid)
            }
            try inj.checked("PR_SET_NAME", Syscall.prctl, 15, try inj.stage(string: String(zombie.command.prefix(15))))
            try TaskSpawner.exit(child, status: zombie.exitStatus, site: parent.site)
        }
    }

    /// The root made by crtool, with its pid (and pid 1 of a PID
    /// namespace of its own when it had one), gated until crtool traces it.
    private static func spawnRoot(_ root: ProcessImage, handing crtool: PidFD, tree: RestoredTree, plan: RestorePlan, options: RestoreOptions,
                                  warnings: inout [String]) throws {
        var spawned: GatedProcess?
        try PidAvailability.retryWhileLingering(root.pid) {
            do {
                spawned = try GatedProcess.spawn(pid: root.pid, newPidNamespace: root.namespaces?.pid != nil, executable: options.stubPath,
                                                 arguments: [], handing: crtool.fd)
                return false
            } catch let e as SystemError where e.errno == EEXIST {
                return true
            }
        }
        guard let gate = spawned else {
            throw CheckpointError("cannot create process \(root.pid): EEXIST\(PidAvailability.groupOrSessionHolding(root.pid))")
        }
        // Killed and reaped by the gate if the restore fails from here on.
        tree.gate = gate
        let leader = try gate.seizeThroughExec(options: [.traceExec, .traceClone, .traceFork, .traceSysGood, .exitKill, .suspendSeccomp])
        tree.add(leader)
        try adopt(root, leader: leader, tree: tree, plan: plan, warnings: &warnings)
    }

    /// Makes `process` as a child of `parent`: inside its
    /// user namespace if it is to be born there (`UserNamespaceMaker`),
    /// else in the PID namespace it had, with every id given by clone3.
    private static func spawn(_ process: ProcessImage, parent: ProcessImage, with inj: RemoteSyscall, namespaces: NamespaceRestorer,
                              pidNamespaces: PidNamespaceMaker, warnings: inout [String]) throws -> Tracee {
        let users = namespaces.users
        if users.isBornInside(process), !users.bornInside.contains(parent.pid) {
            return try users.bearFirst(process, from: inj, warnings: &warnings)
        }
        let child = try spawnChild(ids: PidNamespaceMaker.ids(process.pid, namespaceIDs: process.namespacePids, madeBy: parent),
                                   in: process.namespaces?.pid, of: parent, with: inj, namespaces: namespaces, pidNamespaces: pidNamespaces)
        if users.bornInside.contains(parent.pid) { users.madeInside(process) }
        return child
    }

    /// A child (a process or a zombie) of `parent`, in PID namespace
    /// `namespace`: from a parent born inside its user namespace, with
    /// its pid in crtool's namespace through ns_last_pid.
    private static func spawnChild(ids: TaskSpawner.IDs, in namespace: UInt64?, of parent: ProcessImage, with inj: RemoteSyscall,
                                   namespaces: NamespaceRestorer, pidNamespaces: PidNamespaceMaker) throws -> Tracee {
        if namespaces.users.bornInside.contains(parent.pid) {
            return try TaskSpawner.spawnAfterLastPid(.process, ids: ids, in: parent.pid, with: inj)
        }
        try pidNamespaces.bearChildren(of: parent, in: namespace, with: inj)
        return try TaskSpawner.spawn(.process, ids: ids, in: parent.pid, with: inj)
    }

    private static func adopt(_ process: ProcessImage, leader: Tracee, tree: RestoredTree, plan: RestorePlan, warnings: inout [String]) throws {
        let builder = try AddressSpaceBuilder(process: process, leader: leader, memory: RemoteMemory(pid: process.pid), vdsoBridge: plan.vdsoBridge)
        tree.builders[process.pid] = builder
        tree.leaders[process.pid] = leader
        try SessionRestorer.enterSession(process, plan: plan, inj: builder.inj, warnings: &warnings)
    }
}

/// Every task a restore has made, so a failure can take them all back.
final class RestoredTree {
    var gate: GatedProcess?
    var builders: [Int32: AddressSpaceBuilder] = [:]
    var leaders: [Int32: Tracee] = [:]
    var threads: [Int32: [Int32: Tracee]] = [:]
    private var tracees: [Tracee] = []
    var released = false

    func add(_ t: Tracee) { tracees.append(t) }

    /// Kills every task made and reaps `processes` (the image's, parents
    /// first): each process's PID is free again when this returns, so a
    /// restore tried again at once finds them free.
    func killAll(reaping processes: [Int32]) {
        guard !released else { return }
        let all = tracees + threads.values.flatMap { $0.values }.filter { t in !tracees.contains { $0 === t } }
        Subreaper.reapingOrphans(processes) {
            for t in all { _ = kill(t.tid, SIGKILL) }
            for t in all.sorted(by: { ($0.tid == $0.pid ? 1 : 0) < ($1.tid == $1.pid ? 1 : 0) }) {
                Self.waitUntilGone(t)
            }
            gate?.abandon()
        }
    }

    /// Waits for a killed task's exit. The first process of a PID
    /// namespace ends only once every task of the namespace is reaped,
    /// and crtool, their tracer, reaps them: one made by a call that then
    /// failed, known to no list, would hold it forever. Any task crtool
    /// traces and that has ended is reaped meanwhile.
    private static func waitUntilGone(_ t: Tracee) {
        while true {
            switch Result(catching: { try t.waitStop(within: 0.05) }) {
            case .failure: return
            case .success(let stop?): if stop.isGone { return }
            case .success(nil):
                var status: Int32 = 0
                while waitpid(-1, &status, WNOHANG | __WALL) > 0 {}
            }
        }
    }
}
