import Foundation
import Glibc
import Ptrace

public struct RestoreOptions: Sendable {
    public var directory: String
    public var quiet = false
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// The stub executable the new process starts from.
    public var stubPath: String = RestoreOptions.defaultStubPath()
    /// How long to wait for a PID still held by a dying process.
    public var pidWaitSeconds = 3.0

    public init(directory: String) {
        self.directory = directory
    }

    /// crtool-restore-stub beside the running crtool binary.
    public static func defaultStubPath() -> String {
        if let env = ProcessInfo.processInfo.environment["CRTOOL_STUB"] { return env }
        let exe = (try? ProcFile.link("/proc/self/exe")) ?? "crtool"
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("crtool-restore-stub").path
    }
}

public struct RestoreReport: Sendable {
    public var pid: Int32
    public var threads: Int
    public var vmas: Int
    public var bytesWritten: UInt64
    public var seconds: Double
    public var warnings: [String]
}

/// Brings an image back as a running process with the same PID and TIDs.
/// Everything is checked before the first process is created, and a
/// restore that fails part way kills what it made: no half-restored
/// process is ever left running. Runs on the tracer thread.
public enum Restorer {
    public static func restore(_ options: RestoreOptions) throws -> RestoreReport {
        let started = Date()
        let image = try ImageDirectory.open(at: options.directory)
        let manifest = image.manifest
        guard manifest.processes.count == 1, let entry = manifest.processes.first else {
            throw CheckpointError("the image holds \(manifest.processes.count) processes; this crtool restores exactly one")
        }
        let process = try image.readJSON(ProcessImage.self, from: "process-\(entry.pid).json")
        try ImageConsistency.check(process, entry: entry, manifest: manifest)
        let reader = try image.pageReader(name: process.pagesFile)
        for id in [process.pid] + process.threads.map(\.tid) where id != process.pid {
            try PidAvailability.waitUntilFree(id, seconds: options.pidWaitSeconds, role: "thread \(id) of pid \(process.pid)")
        }
        try PidAvailability.waitUntilFree(process.pid, seconds: options.pidWaitSeconds, role: "pid")
        guard access(options.stubPath, X_OK) == 0 else {
            throw CheckpointError("the restore stub \(options.stubPath) is missing or not executable (build it with swift build, or set CRTOOL_STUB)")
        }

        let gate = try GatedProcess.spawn(pid: process.pid, executable: options.stubPath, arguments: [])
        var tracees: [Tracee] = []
        do {
            let leader = try Tracee.seize(tid: gate.pid, pid: gate.pid, options: [.traceExec, .traceClone, .exitKill])
            tracees.append(leader)
            try gate.open()
            let stop = try leader.waitStop()
            guard case .event(.exec, _) = stop else {
                throw CheckpointError("the restore stub \(stop) instead of stopping at exec")
            }
            try leader.stepOutOfSyscall()
            let memory = RemoteMemory(pid: gate.pid)
            let builder = try AddressSpaceBuilder(process: process, leader: leader, memory: memory)
            try builder.mapAll()
            let total = process.vmas.reduce(UInt64(0)) { $0 + $1.pagesStored * 4096 }
            let progress = Progress(label: "restore", total: total, quiet: options.quiet)
            let written = try builder.writePages(reader: reader, workers: options.workers, progress: progress)
            progress.finish()
            try builder.finishMappings()
            try builder.setMemoryLayout()
            var warnings = builder.warnings
            let inj = builder.inj
            try ProcessStateRestorer.restore(process, with: inj, openFiles: OpenFileRegistry(), warnings: &warnings)

            var byTid = try ThreadStateRestorer.createThreads(process, with: inj)
            byTid[process.pid] = leader
            tracees = [leader] + byTid.values.filter { $0.tid != process.pid }
            for t in process.threads where t.tid != process.pid {
                let ti = try RemoteSyscall(tracee: byTid[t.tid]!, site: inj.site, memory: memory)
                ti.scratch = inj.scratch
                ti.scratchSize = inj.scratchSize
                try ThreadStateRestorer.restorePerThread(t, credentials: process.credentials, with: ti)
            }
            try ProcessStateRestorer.requeueSignals(process, with: inj)
            if let leaderImage = process.threads.first(where: { $0.tid == process.pid }) {
                try ThreadStateRestorer.restorePerThread(leaderImage, credentials: process.credentials, with: inj)
            }
            // The scratch page goes last, from its own syscall instruction:
            // the single-step trap comes on return, before the next fetch.
            try inj.checked("removing the scratch area", Syscall.munmap, builder.scratchBase, UInt64(AddressSpaceBuilder.scratchSize))

            for t in process.threads {
                try ThreadStateRestorer.setFinalState(t, on: byTid[t.tid]!)
            }
            for t in tracees { try t.detach() }
            return RestoreReport(pid: process.pid, threads: process.threads.count, vmas: process.vmas.count,
                                 bytesWritten: written, seconds: Date().timeIntervalSince(started), warnings: warnings)
        } catch {
            _ = kill(gate.pid, SIGKILL)
            for t in tracees.sorted(by: { ($0.tid == gate.pid ? 1 : 0) < ($1.tid == gate.pid ? 1 : 0) }) {
                while let stop = try? t.waitStop(), !stop.isGone {}
            }
            gate.abandon()
            throw error
        }
    }
}

/// Waiting for a PID to become free: the original may still be exiting,
/// or waiting for its parent to reap it.
enum PidAvailability {
    static func waitUntilFree(_ id: Int32, seconds: Double, role: String) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while ProcFile.exists("/proc/\(id)") || kill(id, 0) == 0 {
            if Date() > deadline {
                let holder = (try? ProcStat.read(pid: id)).map { " by \($0.command) (state \($0.state))" } ?? ""
                let asThread = (try? ProcStat.read(pid: id)) == nil ? " as a thread of another process" : ""
                throw CheckpointError("PID \(id) is in use\(holder)\(asThread); cannot restore \(role) \(id) while it exists")
            }
            usleep(10_000)
        }
    }
}

/// Checks that the process metadata agrees with the manifest and with
/// itself, so a hostile image fails with a message instead of a crash.
enum ImageConsistency {
    static func check(_ p: ProcessImage, entry: ProcessEntry, manifest: Manifest) throws {
        let file = "process-\(entry.pid).json"
        func fail(_ field: String, _ reason: String) -> ImageError { ImageError(file: file, field: field, reason: reason) }
        guard p.pid == entry.pid else { throw fail("pid", "is \(p.pid) but manifest.json says \(entry.pid)") }
        guard p.pid > 1 else { throw fail("pid", "\(p.pid) cannot be restored") }
        guard p.threads.contains(where: { $0.tid == p.pid }) else { throw fail("threads", "no thread has the process's own id \(p.pid)") }
        guard Set(p.threads.map(\.tid)).count == p.threads.count, p.threads.allSatisfy({ $0.tid > 0 }) else {
            throw fail("threads", "thread ids are not unique positive numbers")
        }
        guard manifest.files[p.pagesFile] != nil, !p.pagesFile.contains("/") else {
            throw fail("pagesFile", "\(p.pagesFile) is not a file of this image")
        }
        var lastEnd: UInt64 = 0
        for (i, v) in p.vmas.enumerated() {
            guard v.start % 4096 == 0, v.end % 4096 == 0, v.start < v.end, v.start >= lastEnd else {
                throw fail("vmas[\(i)]", "range 0x\(String(v.start, radix: 16))-0x\(String(v.end, radix: 16)) is not page aligned, empty, or overlaps the previous one")
            }
            guard v.protection.count == 4 else { throw fail("vmas[\(i)].protection", "\"\(v.protection)\" is not like \"rw-p\"") }
            guard v.pagesStored <= v.size / 4096 else { throw fail("vmas[\(i)].pagesStored", "more pages than the VMA holds") }
            lastEnd = v.end
        }
        for (i, f) in p.files.enumerated() where f.fd < 0 || f.path.isEmpty {
            throw fail("files[\(i)]", "fd \(f.fd) with path \"\(f.path)\" is not valid")
        }
        for (i, t) in p.threads.enumerated() {
            for (j, s) in t.pendingSignals.enumerated() where s.info.count != 128 || s.signal < 1 || s.signal > 64 {
                throw fail("threads[\(i)].pendingSignals[\(j)]", "not a valid siginfo")
            }
        }
        for (j, s) in p.sharedPendingSignals.enumerated() where s.info.count != 128 || s.signal < 1 || s.signal > 64 {
            throw fail("sharedPendingSignals[\(j)]", "not a valid siginfo")
        }
    }
}
