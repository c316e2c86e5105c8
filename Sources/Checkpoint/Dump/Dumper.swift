import Codecs
import Foundation
import Ptrace

public struct DumpOptions: Sendable {
    public var pid: Int32
    public var directory: String
    public var leaveRunning = false
    public var codec = Codec.default
    public var quiet = false
    public var workers = ProcessInfo.processInfo.activeProcessorCount

    public init(pid: Int32, directory: String) {
        self.pid = pid
        self.directory = directory
    }
}

/// What a dump did, for the one-line summary and --verbose.
public struct DumpReport: Sendable {
    public var pid: Int32
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
    public var stoppedIn: [(tid: Int32, syscall: String)]
    public var leftRunning: Bool
}

/// Checkpoints one process: freeze every thread, read its state and
/// memory into the image, then kill it or let it run on. Any failure
/// before the image is complete lets the process go exactly as it was.
/// Runs on the tracer thread (see TracerThread).
public enum Dumper {
    public static func dump(_ options: DumpOptions) throws -> DumpReport {
        let started = Date()
        let stat = try DumpTarget.validate(pid: options.pid)
        let image = try ImageDirectory.create(at: options.directory)
        let frozen = FrozenProcess(pid: options.pid)
        try frozen.freeze()
        let frozenAt = Date()
        var inspector: TaskInspector?
        do {
            let pid = options.pid
            let memory = RemoteMemory(pid: pid)
            let (maps, details) = try Smaps.mapsWithDetails(pid: pid)
            var vmas = maps.map(VMAClassifier.image(of:))
            let files = try OpenFiles.collect(pid: pid)

            let ins = try TaskInspector(frozen: frozen, maps: maps, memory: memory)
            inspector = ins
            try ins.open()
            let threads = try frozen.threads.map { try ins.thread($0) }
            let actions = try ins.signalActions()
            let timers = try ins.intervalTimers()
            let brk = try ins.currentBrk()
            let sharedPending = try frozen.leader.pendingSignals(shared: true).map { PendingSignal(signal: $0.signal, info: Data($0.bytes)) }
            let status = try ProcStatus.read(pid: pid)

            let pagesName = "pages-\(pid).img"
            let writer = try image.pageWriter(name: pagesName, codec: options.codec)
            let dumper = MemoryDumper(pid: pid, memory: memory)
            let items = try dumper.plan(vmas: vmas, details: details)
            let planned = items.reduce(UInt64(0)) { $0 + UInt64($1.pages) * 4096 }
            let progress = Progress(label: "dump", total: planned, quiet: options.quiet)
            let mem = try dumper.run(items: items, vmaCount: vmas.count, writer: writer, workers: options.workers, progress: progress)
            progress.finish()
            let pageSummary = try writer.finish()
            for i in vmas.indices { vmas[i].pagesStored = mem.pagesStored[i] }

            let process = ProcessImage(
                pid: pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid,
                command: stat.command,
                executable: try ProcFile.link("/proc/\(pid)/exe", pid: pid),
                cwd: try ProcFile.link("/proc/\(pid)/cwd", pid: pid),
                root: try ProcFile.link("/proc/\(pid)/root", pid: pid),
                umask: status.umask ?? 0o022,
                personality: UInt32(try ProcFile.text("/proc/\(pid)/personality", pid: pid).trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) ?? 0,
                credentials: Credentials(uids: status.uids, gids: status.gids, groups: status.groups,
                                         capInheritable: status.capInheritable, capPermitted: status.capPermitted,
                                         capEffective: status.capEffective, capBounding: status.capBounding,
                                         capAmbient: status.capAmbient, noNewPrivs: status.noNewPrivs),
                limits: try Limits.read(pid: pid),
                memoryLayout: MemoryLayoutImage(
                    startCode: stat.startCode, endCode: stat.endCode, startData: stat.startData, endData: stat.endData,
                    startBrk: stat.startBrk, brk: brk, startStack: stat.startStack,
                    argStart: stat.argStart, argEnd: stat.argEnd, envStart: stat.envStart, envEnd: stat.envEnd,
                    auxv: try Auxv.read(pid: pid)),
                vmas: vmas, threads: threads, signalActions: actions, sharedPendingSignals: sharedPending,
                intervalTimers: timers, files: files, pagesFile: pagesName)
            var processes = [process]
            try OpenFiles.assignOpenFiles(&processes)
            try image.writeJSON(processes[0], to: "process-\(pid).json")

            try ins.close()
            inspector = nil
            try image.commit(Manifest(
                codec: options.codec,
                processes: [ProcessEntry(pid: pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid,
                                         tids: threads.map(\.tid), command: stat.command)]))

            frozen.release(kill: !options.leaveRunning)
            let released = Date()
            return DumpReport(
                pid: pid, threads: threads.count, vmas: vmas.count,
                bytesRead: mem.bytesRead, bytesWritten: pageSummary.fileSize,
                pagesStored: pageSummary.pages, zeroPages: mem.zeroPages,
                frozenSeconds: released.timeIntervalSince(frozenAt),
                totalSeconds: released.timeIntervalSince(started),
                codec: options.codec,
                stoppedIn: threads.compactMap { t in t.stoppedIn.map { (t.tid, $0) } },
                leftRunning: options.leaveRunning)
        } catch {
            try? inspector?.close()
            frozen.release(kill: false)
            image.discard()
            throw error
        }
    }
}

enum VMAClassifier {
    static func image(of m: MapEntry) -> VMAImage {
        let kind: VMAKind
        switch m.path {
        case "[vdso]": kind = .vdso
        case "[vvar]": kind = .vvar
        case "[vvar_vclock]": kind = .vvarVclock
        case "[vsyscall]": kind = .vsyscall
        default:
            let anonymousName = m.path == nil || m.isSpecial || m.path!.hasPrefix("/dev/zero") || m.inode == 0
            if m.shared {
                kind = anonymousName ? .sharedAnonymous : .sharedFile
            } else {
                kind = anonymousName ? .anonymous : .privateFile
            }
        }
        return VMAImage(start: m.start, end: m.end, protection: m.protectionString, kind: kind, offset: m.offset,
                        path: m.path, flags: m.flags, pagesStored: 0)
    }
}
