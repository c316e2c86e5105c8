import Foundation
import Ptrace

public struct PreDumpOptions: Sendable {
    public var pid: Int32
    public var directory: String
    /// The image this one is made on (--prev-images-dir), relative to
    /// `directory` unless absolute: a pre-dump, or a dump that tracked
    /// the tree's writes.
    public var parent: String?
    public var codec = Codec.default
    public var quiet = false
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    public var freezeTimeout = FrozenProcess.defaultTimeout
    /// The cgroup frozen while the tree is seized (--freeze-cgroup).
    public var freezeCgroup: String?
    /// Run before the freeze and once the image is complete
    /// (--action-script), as for a dump.
    public var actionScripts = ActionScripts()

    public init(pid: Int32, directory: String) {
        self.pid = pid
        self.directory = directory
    }
}

/// What a pre-dump did, for its summary.
public struct PreDumpReport: Sendable {
    public var pid: Int32
    public var processes: Int
    public var bytesRead: UInt64
    public var bytesWritten: UInt64
    public var pagesStored: UInt64
    /// Pages unwritten since the parent image, taken from it.
    public var pagesInherited: UInt64
    public var frozenSeconds: Double
    public var totalSeconds: Double
    /// VMAs whose writes are tracked for the next image, and the
    /// crtool-keeper that holds the trackers.
    public var trackedVMAs: Int
    public var keeperPid: Int32?
    /// Processes of the parent whose pages could not be taken from it.
    public var notes: [String]
    /// Wall time of each phase, in order, for --verbose.
    public var phases: [(name: String, seconds: Double)] = []
}

/// Copies a tree's memory while it runs on, so that the dump made later on
/// top of it (`dump --prev-images-dir`) reads and writes only the pages
/// written since, and keeps the tree frozen that much shorter.
///
/// The tree is frozen while its pages are read, as for a dump; then each
/// process's trackable memory is write-protected by a write tracker
/// (`WriteTracker`), which crtool-keeper holds from then on, and the tree
/// runs on. A pre-dump on top of another reads only what was written
/// since that one and hands the tracking on to a keeper of its own: only
/// the newest pre-dump of a series can be the parent of the next image.
public enum PreDumper {
    public static func preDump(_ options: PreDumpOptions) throws -> PreDumpReport {
        let started = Date()
        var phases = PhaseTimer()
        _ = try DumpTarget.validate(pid: options.pid)
        try options.actionScripts.run(.preDump, pid: options.pid, otherwise: "nothing was dumped, and pid \(options.pid) runs on untouched")
        let (chain, parentManifest) = try options.parent.map { try ImageChain.open(parent: $0, for: options.directory) }
            .map { ($0.chain, $0.parentManifest) } ?? (nil, nil)
        let image = try ImageDirectory.create(at: options.directory)
        let tree = FrozenTree(root: options.pid, timeout: options.freezeTimeout, freezingCgroup: options.freezeCgroup)
        do {
            try tree.freeze()
        } catch {
            image.discard()
            throw EndedMidway.explaining(error, operation: "pre-dump", pids: [options.pid] + tree.processes.map(\.pid), outcome: EndedMidway.dumpOutcome)
        }
        let frozenAt = Date()
        phases.mark("freeze")
        let keeper = ExternalKeeper(imageDirectory: image.path)
        var inspectors: [TaskInspector] = []
        var letGo = false
        var handover = TrackerHandover()
        do {
            try Interrupted.check(Interrupted.dumpGivenUp)
            for p in tree.processes { try ExecutionMode.require64Bit(p) }
            var entries: [ProcessEntry] = []
            var jobs: [MemoryDumper.Job] = []
            var inheritances: [PageInheritance] = []
            let layouts = try ProcessCollector.layouts(of: tree.processes, workers: options.workers, forDump: false)
            var startTimes: [UInt64] = []
            for (p, layout) in zip(tree.processes, layouts) {
                let stat = try ProcStat.read(pid: p.pid)
                let inheritance = try PageInheritance.find(pid: p.pid, startTime: stat.startTime, vmas: layout.vmas, chain: chain)
                jobs.append(try MemoryDumper.Job.planned(pid: p.pid, memory: RemoteMemory(pid: p.pid), vmas: layout.vmas,
                                                         details: layout.details, skipping: inheritance.unwritten, image: image,
                                                         name: PageLineage.pagesFileName(pid: p.pid), codec: options.codec,
                                                         workers: options.workers))
                entries.append(ProcessEntry(pid: p.pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid,
                                            tids: p.threads.map(\.tid), command: stat.command))
                inheritances.append(inheritance)
                startTimes.append(stat.startTime)
            }
            phases.mark("page plan")
            let planned = MemoryDumper.plannedBytes(jobs)
            let progress = Progress(label: "pre-dump", total: planned, quiet: options.quiet)
            defer { progress.finish() }
            let holding = MemoryDumper.holdsChunks(planned: planned, codec: options.codec)
            let (results, held) = try MemoryDumper.run(jobs, workers: options.workers, progress: progress, holdingChunks: holding)
            progress.finish()
            phases.mark(holding ? "pages read" : "pages")

            // The pages are read: from here on every write counts.
            for (i, p) in tree.processes.enumerated() {
                try handover.arm(inheritances[i], vmas: layouts[i].vmas) {
                    let inspector = try TaskInspector(frozen: p, maps: layouts[i].maps, memory: jobs[i].dumper.memory,
                                                      status: try ProcStatus.read(pid: p.pid))
                    try inspector.open()
                    inspectors.append(inspector)
                    let tracker = try inspector.openWriteTracker()
                    FaultPoint.reach(FaultPoint.leaderBorrowed)
                    return tracker
                }
            }
            phases.mark("write tracking")
            for inspector in inspectors { try inspector.close() }
            inspectors = []
            tree.release()
            letGo = true
            let released = Date()
            phases.mark("release")

            if holding {
                try MemoryDumper.write(held, jobs: jobs, workers: options.workers, label: "pre-dump, compressing", quiet: options.quiet)
                phases.mark("pages written")
            }
            var written: UInt64 = 0
            var pages: UInt64 = 0
            for (i, job) in jobs.enumerated() {
                let summary = try job.writer.finish()
                written += summary.fileSize
                pages += summary.pages
                // The start time read while the tree was frozen: the
                // process may have ended since.
                try image.writeJSON(try handover.lineage(i, pid: entries[i].pid, startTime: startTimes[i],
                                                         inherited: inheritances[i].inherited, keeper: keeper),
                                    to: PageLineage.fileName(pid: entries[i].pid))
            }
            try Interrupted.check(Interrupted.dumpGivenUp)
            try keeper.commit()
            try image.commit(Manifest(codec: options.codec, processes: entries, parent: options.parent,
                                      parentManifest: parentManifest, preDump: true))
            try options.actionScripts.run(.postDump, pid: options.pid, otherwise: "the image is removed")
            keeper.finish()
            handover.endTakenOver()
            phases.mark("image")
            var report = PreDumpReport(
                pid: options.pid, processes: entries.count,
                bytesRead: results.reduce(0) { $0 + $1.bytesRead }, bytesWritten: written, pagesStored: pages,
                pagesInherited: inheritances.reduce(0) { $0 + PageRanges.pageCount($1.inherited) },
                frozenSeconds: released.timeIntervalSince(frozenAt), totalSeconds: Date().timeIntervalSince(started),
                trackedVMAs: handover.trackedVMAs, keeperPid: keeper.pid, notes: inheritances.compactMap(\.lost) + handover.notes, phases: phases.phases)
            if let problem = DumpStatistics("pre-dump", report, zeroPages: nil, treeRanOn: true).kept(in: options.directory) {
                report.notes.append(problem)
            }
            return report
        } catch {
            keeper.abandon()
            // A parent whose pages were protected again no longer knows
            // what was written since it was made: no image may trust it.
            handover.endTakenOver()
            var error = error
            if !letGo {
                // Before the tree is let go, while its dead still wait for crtool.
                error = EndedMidway.explaining(error, operation: "pre-dump", pids: tree.processes.map(\.pid), outcome: EndedMidway.dumpOutcome)
                for inspector in inspectors { try? inspector.close() }
                tree.release()
            }
            image.discard()
            throw error
        }
    }
}
