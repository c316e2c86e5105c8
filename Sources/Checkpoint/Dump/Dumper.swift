import Codecs
import Foundation
import Ptrace

public struct DumpOptions: Sendable {
    public var pid: Int32
    public var directory: String
    public var leaveRunning = false
    /// Leave the tree alive but stopped (SIGSTOP), as CRIU's
    /// --leave-stopped: for a migration that kills it only once the
    /// restore elsewhere succeeded. Implies leaveRunning's handling.
    public var leaveStopped = false
    /// Whether the tree outlives the dump (running or stopped).
    var treeSurvives: Bool { leaveRunning || leaveStopped }
    public var codec = Codec.default
    public var quiet = false
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// The most bytes of a file deleted while open that the image carries.
    public var ghostLimit = DeletedFiles.defaultLimit
    /// Seconds a thread may take to stop before the dump gives up.
    public var freezeTimeout = FrozenProcess.defaultTimeout
    /// The cgroup frozen while the tree is seized (--freeze-cgroup), so
    /// that its tasks stop at one moment, and a tree in a frozen cgroup
    /// can be dumped at all.
    public var freezeCgroup: String?
    /// Carry established TCP connections over (TCP repair mode) rather
    /// than refuse them.
    public var tcpEstablished = false
    /// Hold those connections' packets in an nftables table from the dump
    /// to the restore (--network-lock nftables, the default) or not (skip).
    public var networkLock = true
    /// Keep the files the tree shares with processes outside it (pipes,
    /// sockets, connections to outside servers) open in crtool-keeper
    /// until the restore takes them back, rather than refuse them.
    public var holdExternal = false
    /// Files to leave out of the image, as /proc/PID/fd names them
    /// (pipe:[INODE], socket:[INODE], a path): the restore is given
    /// others in their place (CRIU's --external, restore --inherit-fd).
    public var externals: Set<String> = []
    /// Namespaces of the tree's to leave out (--external net[INODE]:KEY):
    /// the restore is given one in their place.
    public var externalNamespaces: [ExternalNamespaces.LeftOut] = []
    /// Binds of crtool's left out, to be given a place at the restore
    /// (--external mnt[MOUNTPOINT]:KEY, --ext-mount-map).
    public var externalMounts: [ExternalMounts.LeftOut] = []
    /// Save the settings of the tree's cgroups (all but --manage-cgroups
    /// ignore, which has the restore leave cgroups alone).
    public var savesCgroupSettings = true
    /// The image this dump is made on (--prev-images-dir), relative to
    /// `directory` unless absolute: a pre-dump, or a dump that tracked
    /// the tree's writes. Pages unwritten since are taken from it.
    public var parent: String?
    /// Track the writes of a tree left running from the moment its pages
    /// are read (--track-mem), so that the next dump or pre-dump can be
    /// made on this one and store only the pages written since.
    public var trackMemory = false
    /// Store every page even on a parent (--full): the image names no
    /// parent and restores without the images under it, and only the write
    /// tracking is taken over from `parent`, so a series of checkpoints can
    /// start again without losing it and older images can be deleted.
    public var storeEveryPage = false
    /// Run before the freeze and once the image is complete
    /// (--action-script).
    public var actionScripts = ActionScripts()

    public init(pid: Int32, directory: String) {
        self.pid = pid
        self.directory = directory
    }
}

/// What a dump did, for the one-line summary and --verbose.
public struct DumpReport: Sendable {
    public var pid: Int32
    public var processes: Int
    public var zombies: Int
    public var threads: Int
    public var vmas: Int
    public var bytesRead: UInt64
    public var bytesWritten: UInt64
    public var pagesStored: UInt64
    public var zeroPages: UInt64
    public var frozenSeconds: Double
    public var totalSeconds: Double
    public var codec: Codec
    /// Threads that were inside a system call, with its name.
    public var stoppedIn: [(pid: Int32, tid: Int32, syscall: String)]
    /// Threads found inside the vDSO and run out of it, with the
    /// instructions that took.
    public var steppedOutOfVDSO: [(pid: Int32, tid: Int32, instructions: Int)] = []
    public var leftRunning: Bool
    /// Wall time of each phase, in order, for --verbose.
    public var phases: [(name: String, seconds: Double)] = []
    /// What a tree left running did not get back as it was (a connection
    /// still in repair mode, packets still held), and what limits where
    /// the image can be restored.
    public var warnings: [String] = []
    /// Left alive but stopped (--leave-stopped).
    public var leftStopped = false
    /// TCP connections carried (--tcp-established).
    public var tcpConnections = 0
    /// Descriptors crtool-keeper holds for the restore (--hold-external),
    /// and its pid.
    public var heldByKeeper = 0
    public var keeperPid: Int32?
    /// Freezes it took: more than one when the tree was let run to end
    /// a passing state first (see PassingState).
    public var attempts = 1
    /// What the tree was let run for between the freezes, each once.
    public var waitedFor: [String] = []
    /// Pages unwritten since the parent image, taken from it.
    public var pagesInherited: UInt64 = 0
    /// Processes of the parent whose pages could not be taken from it.
    public var notes: [String] = []
    /// With --track-mem: VMAs whose writes are tracked for the next image,
    /// and the crtool-keeper that holds the trackers.
    public var trackedVMAs = 0
    public var trackerKeeperPid: Int32?
}

/// Checkpoints the process tree under one PID: freeze every thread of
/// every process, read their state and memory into the image, then kill
/// the tree or let it run on. Any failure before the image is complete
/// lets every process go exactly as it was and removes the partial image.
/// Runs on the tracer thread (see TracerThread).
public enum Dumper {
    /// How often a dump tries again while the program ends a passing
    /// state (accepts waiting connections, reads a netlink answer), and
    /// how long the tree runs between.
    static let attemptsForPassingStates = 40
    static let pauseForPassingStates: useconds_t = 50_000

    public static func dump(_ options: DumpOptions) throws -> DumpReport {
        if options.holdExternal && options.leaveRunning {
            throw CheckpointError("--hold-external keeps files for a tree the dump stops (killed, or with --leave-stopped); a tree left running keeps them itself")
        }
        if options.trackMemory && !options.leaveRunning {
            throw CheckpointError("--track-mem tracks the writes of a tree that runs on after the dump: give --leave-running too")
        }
        try options.actionScripts.run(.preDump, pid: options.pid, otherwise: "nothing was dumped, and pid \(options.pid) runs on untouched")
        // One lock for every attempt: while the program accepts what waits,
        // its listeners take nothing new.
        let lock = options.tcpEstablished && options.networkLock ? NetworkLock.fresh(pid: options.pid) : nil
        if options.tcpEstablished || options.freezeCgroup != nil { DeathGuard.shared.start() }
        var attempt = 1
        var waitedFor: [String] = []
        while true {
            let last = attempt == attemptsForPassingStates
            do {
                var report = try dumpOnce(options, lock: lock, keepingLockForAnotherTry: !last)
                report.attempts = attempt
                report.waitedFor = waitedFor
                let statistics = DumpStatistics("dump", report, zeroPages: report.zeroPages, treeRanOn: report.leftRunning)
                if let problem = statistics.kept(in: options.directory) { report.warnings.append(problem) }
                return report
            } catch let passing as PassingState {
                guard !last else {
                    let held = passing.whileWaiting.map { ", \($0)" } ?? ""
                    throw CheckpointError("\(passing.message) (tried \(attempt) times, for \(attempt * Int(pauseForPassingStates) / 1000) ms\(held))")
                }
                if !waitedFor.contains(passing.reason) { waitedFor.append(passing.reason) }
                attempt += 1
                usleep(pauseForPassingStates)
            } catch {
                // A later try that failed before it held anything (the
                // tree exited meanwhile) leaves the table the first made.
                if attempt > 1 { try? lock?.release() }
                throw error
            }
        }
    }

    private static func dumpOnce(_ options: DumpOptions, lock: NetworkLock?, keepingLockForAnotherTry: Bool) throws -> DumpReport {
        let started = Date()
        // Read before the freeze: /proc/cpuinfo asks every CPU.
        let cpu = HostCPU.current()
        let vdsoSymbols = VDSOSymbols.current()
        // And what a new namespace holds, if the root has one of its own.
        NamespaceSysctlDumper.prepare(root: options.pid)
        var phases = PhaseTimer()
        _ = try DumpTarget.validate(pid: options.pid)
        OpenFileLimit.raise()
        let parent = try options.parent.map { try ImageChain.open(parent: $0, for: options.directory, wholeChain: !options.storeEveryPage) }
        let image = try ImageDirectory.create(at: options.directory)
        let tree = FrozenTree(root: options.pid, timeout: options.freezeTimeout, freezingCgroup: options.freezeCgroup)
        do {
            try tree.freeze()
        } catch {
            image.discard()
            throw EndedMidway.explaining(error, operation: "dump", pids: [options.pid] + tree.processes.map(\.pid), outcome: EndedMidway.dumpOutcome)
        }
        let frozenAt = Date()
        phases.mark("freeze")
        var collected: [CollectedProcess] = []
        let tcpRepair = options.tcpEstablished ? TCPRepairHold(lock: lock) : nil
        let keeper = options.holdExternal ? ExternalKeeper(imageDirectory: image.path) : nil
        let trackerKeeper = options.trackMemory ? ExternalKeeper(imageDirectory: image.path) : nil
        var handover = TrackerHandover()
        /// Whether the tree was let go already (a tree that survives is
        /// let go before the image is written).
        var letGo = false
        var released = Date()
        var unresumed: [String] = []
        do {
            // Where the tree's time namespaces' clocks stopped.
            let frozenClocks = try TimeNamespaceClocks.host()
            try Interrupted.check(Interrupted.dumpGivenUp)
            let system = SystemDescriptors()
            for p in tree.processes { try ExecutionMode.require64Bit(p) }
            try SharedTaskResources.refuseShared(tree.processes.map(\.pid))
            try tcpRepair?.holdPackets(ofConnectionsIn: tree.processes.map(\.pid))
            let layouts = try ProcessCollector.layouts(of: tree.processes, workers: options.workers, forDump: true)
            let mappedAnywhere = layouts.reduce(into: Set<UInt64>()) { $0.formUnion($1.mappedObjects) }
            for (p, layout) in zip(tree.processes, layouts) {
                collected.append(try ProcessCollector.collect(p, layout: layout, mappedObjects: mappedAnywhere,
                                                              system: system, ghostLimit: options.ghostLimit,
                                                              tcpRepair: tcpRepair, keeper: keeper, externals: options.externals))
            }
            phases.mark("state")
            FaultPoint.reach(FaultPoint.stateRead)
            // Nothing more is asked of the threads until the tree is let
            // go or killed: they hold their own registers meanwhile, so a
            // crtool that dies from here on leaves them as they were.
            for c in collected { try c.inspector.giveThreadsBack() }
            try Interrupted.check(Interrupted.dumpGivenUp)
            let vdsoSteps = collected.flatMap { c in c.inspector.steppedOutOfVDSO.map { (pid: c.image.pid, tid: $0.tid, instructions: $0.instructions) } }
            var processes = collected.map(\.image)
            try ExternalFiles.requireAllFound(options.externals, in: processes)
            try OpenFiles.assignOpenFiles(&processes)
            try EpollFiles.checkWatchesHeld(processes)
            try HostTunDevices.save(&processes)
            let dumpedNamespaces = try NamespaceDumper.dump(processes, zombies: tree.zombies, tmpfsDataLimit: options.ghostLimit,
                                                             frozenClocks: frozenClocks, leftOut: options.externalNamespaces)
            var namespaces = dumpedNamespaces.saved
            try ExternalMounts.mark(&namespaces, leftOut: options.externalMounts)
            for i in namespaces.indices where namespaces[i].externalKey != nil {
                namespaces[i].networkLock = tcpRepair?.table(ofNamespace: namespaces[i].id)
            }
            let cgroups = options.savesCgroupSettings ? CgroupSettingsReader.read(processes, namespaces: namespaces) : []

            // Kept past leaveTree, which lets `collected` go.
            let startTimes = collected.map(\.startTime)
            let inheritances = try collected.map { c in
                let found = try PageInheritance.find(pid: c.image.pid, startTime: c.startTime,
                                                     vmas: c.image.vmas, chain: parent?.chain)
                return options.storeEveryPage ? found.takingNoPages() : found
            }
            let jobs = try zip(collected, inheritances).map { c, inheritance in
                try MemoryDumper.Job.planned(pid: c.image.pid, memory: c.memory, vmas: c.image.vmas, details: c.details,
                                             skipping: inheritance.unwritten, image: image, name: c.image.pagesFile,
                                             codec: options.codec, workers: options.workers)
            }
            phases.mark("page plan")
            let planned = MemoryDumper.plannedBytes(jobs)
            let progress = Progress(label: "dump", total: planned, quiet: options.quiet)
            // A dump that fails leaves no half-drawn line before its error.
            defer { progress.finish() }
            // A tree that survives the dump runs on while its pages are
            // compressed, when they fit in memory.
            let holdingPages = options.treeSurvives && MemoryDumper.holdsChunks(planned: planned, codec: options.codec)
            let (results, heldPages) = try MemoryDumper.run(jobs, workers: options.workers, progress: progress,
                                                            holdingChunks: holdingPages)
            phases.mark(holdingPages ? "pages read" : "pages")
            let (shared, sharedBytes, sharedWritten) = try SharedMemoryDumper.dump(processes, image: image, codec: options.codec,
                                                                    workers: options.workers, progress: progress)
            let sysvIPC = try SysVIPCDumper.dump(processes, image: image, codec: options.codec, progress: progress)
            namespaces = try SysVIPCDumper.dumpNamespaces(namespaces, processes: processes, image: image, codec: options.codec,
                                                          progress: progress)
            progress.finish()
            phases.mark("shared memory")
            try Interrupted.check(Interrupted.dumpGivenUp)
            let memories = Dictionary(uniqueKeysWithValues: collected.map { ($0.image.pid, $0.memory) })
            /// The last look at the frozen tree: no AIO request completed
            /// since its ring was read; then the scratch pages go back.
            func leaveTree() throws {
                try AioRingReader.requireNoCompletionsSince(processes, memories: memories)
                for c in collected { try c.inspector.close() }
                collected = []
            }
            var warnings = vdsoSteps.filter { $0.instructions == nil }.map {
                "thread \($0.tid) of pid \($0.pid) was still inside the vDSO after \(TaskInspector.vdsoStepLimit) instructions; "
                    + "the image can be restored only on a kernel with the same vDSO"
            } + dumpedNamespaces.warnings
            let connections = tcpRepair?.count ?? 0
            // A tree that survives the dump has given all it will: it runs
            // on while the image is written (a failed write leaves it
            // running all the same). One about to be killed waits, frozen,
            // until the image is whole.
            if options.treeSurvives {
                // The pages are read: from here on every write counts.
                if options.trackMemory {
                    for (i, c) in collected.enumerated() {
                        try handover.arm(inheritances[i], vmas: processes[i].vmas) { try c.inspector.openWriteTracker() }
                    }
                    phases.mark("write tracking")
                }
                try leaveTree()
                letGo = true
                unresumed = tcpRepair?.resume() ?? []
                warnings += unresumed
                // Queued while every thread is held: each process stops as
                // soon as it is let go, before it runs an instruction.
                if options.leaveStopped { for p in tree.processes { kill(p.pid, SIGSTOP) } }
                tree.release()
                released = Date()
                phases.mark("release")
            }
            if holdingPages {
                try MemoryDumper.write(heldPages, jobs: jobs, workers: options.workers, label: "dump, compressing", quiet: options.quiet)
                phases.mark("pages written")
            }
            var written: UInt64 = sharedWritten
            var pages: UInt64 = 0
            for (i, job) in jobs.enumerated() {
                let summary = try job.writer.finish()
                written += summary.fileSize
                pages += summary.pages
                let inheritedPerVMA = inheritances[i].pagesPerVMA(processes[i].vmas)
                for v in processes[i].vmas.indices {
                    processes[i].vmas[v].pagesStored = results[i].pagesStored[v] + inheritedPerVMA[v]
                }
                if let trackerKeeper {
                    try image.writeJSON(try handover.lineage(i, pid: processes[i].pid, startTime: startTimes[i],
                                                             inherited: inheritances[i].inherited, keeper: trackerKeeper),
                                        to: PageLineage.fileName(pid: processes[i].pid))
                } else if let lineage = inheritances[i].lineage, !lineage.inherited.isEmpty {
                    try image.writeJSON(lineage, to: PageLineage.fileName(pid: processes[i].pid))
                }
            }
            // Encoding takes some 0.5 ms a process, while the tree waits.
            try ParallelWork.run(count: processes.count, workers: options.workers) {
                { [processes] i in try image.writeJSON(processes[i], to: "process-\(processes[i].pid).json") }
            }
            if !shared.isEmpty { try image.writeJSON(shared, to: SharedMemoryImage.listFile) }
            if !sysvIPC.isEmpty { try image.writeJSON(sysvIPC, to: SysVIPCImage.listFile) }
            if !tree.zombies.isEmpty { try image.writeJSON(tree.zombies, to: ZombieImage.listFile) }
            if !namespaces.isEmpty { try image.writeJSON(namespaces, to: NamespaceImage.listFile) }
            if !cgroups.isEmpty { try image.writeJSON(cgroups, to: CgroupImage.listFile) }

            if !options.treeSurvives {
                // One about to be killed must not have acknowledged bytes
                // the image lacks.
                try tcpRepair?.requireUnmoved()
                // Nor completed AIO the image lacks. Its scratch pages go
                // with it: they are given back only if the commit fails and
                // the tree runs on (the error path closes what `collected`
                // still holds).
                try AioRingReader.requireNoCompletionsSince(processes, memories: memories)
            }
            try Interrupted.check(Interrupted.dumpGivenUp)
            try keeper?.commit()
            try trackerKeeper?.commit()
            try image.commit(Manifest(
                formatVersion: processes.contains { $0.files.contains { $0.pipe?.packets != nil || $0.pipe != nil && $0.flags & PipeState.packetModeFlag != 0 } } ? Manifest.packetPipeFormatVersion
                    : processes.contains { $0.files.contains { $0.packetSocket?.receiveRing?.frameHeader != nil } } ? Manifest.packetFrameRingFormatVersion
                    : processes.contains { $0.files.contains { $0.packetSocket?.receiveRing != nil } } ? Manifest.packetRingFormatVersion
                    : namespaces.contains { $0.copiedFrom != nil } ? Manifest.mountNamespaceCopyFormatVersion
                    : namespaces.contains { $0.kind == .user } ? Manifest.userNamespaceFormatVersion
                    : namespaces.contains { $0.veths != nil || $0.routes != nil } ? Manifest.namespaceDevicesFormatVersion
                    : namespaces.contains { $0.sysvIPC != nil } ? Manifest.namespaceSysVIPCFormatVersion
                    : namespaces.isEmpty ? Manifest.standaloneFormatVersion : Manifest.namespacesFormatVersion,
                cpu: cpu,
                vdsoSymbols: vdsoSymbols,
                codec: options.codec,
                processes: processes.map { ProcessEntry(pid: $0.pid, ppid: $0.ppid, pgid: $0.pgid, sid: $0.sid,
                                                        tids: $0.threads.map(\.tid), command: $0.command) },
                parent: options.storeEveryPage ? nil : options.parent,
                parentManifest: options.storeEveryPage ? nil : parent?.parentManifest,
                tracksWrites: options.trackMemory ? true : nil))
            try options.actionScripts.run(.postDump, pid: options.pid, otherwise: options.treeSurvives
                ? "the image is removed" : "the image is removed, and the tree runs on as it was")
            keeper?.finish()
            trackerKeeper?.finish()
            // The parent's tracking has served: its keeper lets go of the
            // trackers, which this image's keeper holds now (--track-mem),
            // or the tree's memory is left untracked.
            for holder in inheritances.compactMap(\.parentTracker) { _ = TakenBack.endKeeper(holder) }
            phases.mark("image")
            if !options.treeSurvives {
                // Killed in repair mode, the connections close without a
                // word to their peers.
                let inspectors = Dictionary(uniqueKeysWithValues: collected.map { ($0.image.pid, $0.inspector) })
                tree.kill { parent, children in try? inspectors[parent]?.reap(children) }
                NetworkDevicesDumper.removeOutsideEnds(of: namespaces)
                tcpRepair?.release()
                released = Date()
                phases.mark("release")
            }
            return DumpReport(
                pid: options.pid, processes: processes.count, zombies: tree.zombies.count,
                threads: processes.reduce(0) { $0 + $1.threads.count },
                vmas: processes.reduce(0) { $0 + $1.vmas.count },
                bytesRead: results.reduce(0) { $0 + $1.bytesRead } + sharedBytes, bytesWritten: written,
                pagesStored: pages, zeroPages: results.reduce(0) { $0 + $1.zeroPages },
                frozenSeconds: released.timeIntervalSince(frozenAt),
                totalSeconds: Date().timeIntervalSince(started),
                codec: options.codec,
                stoppedIn: processes.flatMap { p in p.threads.compactMap { t in t.stoppedIn.map { (p.pid, t.tid, $0) } } },
                steppedOutOfVDSO: vdsoSteps.compactMap { s in s.instructions.map { (s.pid, s.tid, $0) } },
                leftRunning: options.treeSurvives, phases: phases.phases, warnings: warnings,
                leftStopped: options.leaveStopped, tcpConnections: connections,
                heldByKeeper: keeper?.held ?? 0, keeperPid: keeper?.pid,
                pagesInherited: inheritances.reduce(0) { $0 + PageRanges.pageCount($1.inherited) },
                notes: inheritances.compactMap(\.lost) + handover.notes,
                trackedVMAs: handover.trackedVMAs, trackerKeeperPid: trackerKeeper?.pid)
        } catch {
            keeper?.abandon()
            trackerKeeper?.abandon()
            // A parent whose pages were protected again no longer knows
            // what was written since it was made: no image may trust it.
            handover.endTakenOver()
            var error = error
            if !letGo {
                // Before the tree is let go, while its dead still wait for crtool.
                error = EndedMidway.explaining(error, operation: "dump", pids: tree.processes.map(\.pid), outcome: EndedMidway.dumpOutcome)
                for c in collected { try? c.inspector.close() }
                unresumed = tcpRepair?.resume(keepingLock: error is PassingState && keepingLockForAnotherTry) ?? []
                tree.release()
            }
            image.discard()
            guard unresumed.isEmpty else {
                throw CheckpointError("\(error); and the tree runs on with what could not be put back: \(unresumed.joined(separator: "; "))")
            }
            throw error
        }
    }
}
