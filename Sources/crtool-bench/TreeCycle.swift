import Checkpoint
import Glibc
import Foundation
import Ptrace

/// The tree workload: fixture-sharedtree, N processes sharing one region
/// of shared anonymous memory, each with a private heap. Dumped twice from
/// fresh trees: with one worker, reading the processes one after another
/// as a dumper that walks a tree process by process does, and with every
/// core, as crtool does; then restored, and the restored tree must tick.
/// Like the other cases, every metric is the best of --runs.
enum TreeCycle {
    struct Result {
        var processes: Int
        var sharedMiB: Int
        var heapMiB: Int
        var runs: Int
        var sequential: Measurement
        var parallel: Measurement
        /// Where the last image of every core kept the shared pages.
        var storage: SharedStorage
    }

    /// `runs` pairs of dumps, one worker then every core, each metric the
    /// best of its runs like the other cases, so one slow spell of the
    /// machine does not decide the comparison.
    static func run(processes: Int, sharedMiB: Int, heapMiB: Int, codec: Codec, runs: Int, warmPageCache: Bool) throws -> Result {
        var sequential: Measurement?
        var parallel: Measurement?
        var storage: SharedStorage?
        for _ in 0..<max(1, runs) {
            try Interruption.check()
            let one = try once(processes: processes, sharedMiB: sharedMiB, heapMiB: heapMiB, codec: codec,
                               workers: 1, warmPageCache: warmPageCache).measurement
            sequential = sequential.map { $0.best(one) } ?? one
            let all = try once(processes: processes, sharedMiB: sharedMiB, heapMiB: heapMiB, codec: codec,
                               workers: ProcessInfo.processInfo.activeProcessorCount, warmPageCache: warmPageCache)
            parallel = parallel.map { $0.best(all.measurement) } ?? all.measurement
            storage = all.storage
        }
        return Result(processes: processes, sharedMiB: sharedMiB, heapMiB: heapMiB, runs: max(1, runs),
                      sequential: sequential!, parallel: parallel!, storage: storage!)
    }

    private static func once(processes: Int, sharedMiB: Int, heapMiB: Int, codec: Codec, workers: Int,
                             warmPageCache: Bool) throws -> (measurement: Measurement, storage: SharedStorage) {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let log = LineLog(path: scratch.path + "/tree.out")
        let root = try Spawner.spawn(BuildProducts.treeFixture,
                                     ["--procs", String(processes), "--shared-mib", String(sharedMiB), "--heap-mib", String(heapMiB)],
                                     stdout: log.path, stderr: scratch.path + "/tree.err")
        var tree: [pid_t] = [root]
        defer { for pid in tree.reversed() { _ = kill(pid, SIGKILL) }; for pid in tree { _ = try? ChildReaper.reap(pid, timeout: 5) } }
        try log.waitFor("ready", pid: root, timeout: 120) { $0 == "ready" }
        tree = [root] + ((try? ProcDirectory.children(pid: root)) ?? [])

        var options = DumpOptions(pid: root, directory: scratch.imagePath)
        options.codec = codec
        options.quiet = true
        options.workers = workers
        if warmPageCache { try FreshPageCache.recycle(mebibytes: sharedMiB + processes * heapMiB + 64, in: scratch.path) }
        let (report, dumpSeconds) = try Stopwatch.time { try TracerThread.run { try Dumper.dump(options) } }
        for pid in tree { _ = try ChildReaper.reap(pid, timeout: 30) }
        for pid in tree where !PidIsFree.wait(pid) {
            throw BenchError("pid \(pid) of the tree is still taken after its dump")
        }
        let imageBytes = try scratch.imageBytes()
        let storage = try SharedStorage.read(imagePath: scratch.imagePath)

        let mark = log.lines().count
        var restore = RestoreOptions(directory: scratch.imagePath)
        restore.quiet = true
        let (restored, restoreSeconds) = try Stopwatch.time { try TracerThread.run { try Restorer.restore(restore) } }
        guard restored.processes == processes else {
            throw BenchError("restored \(restored.processes) processes, expected \(processes)")
        }
        try log.waitFor("a tick after the restore", from: mark, pid: root, timeout: 30) { $0.contains(" tick ") }
        return (Measurement(dumpSeconds: dumpSeconds, frozenSeconds: report.frozenSeconds, imageBytes: imageBytes,
                            storedBytes: report.pagesStored * 4096, restoreSeconds: restoreSeconds), storage)
    }
}

/// Waits (briefly) for a PID to be free again after its process was reaped
/// by whoever its parent was.
enum PidIsFree {
    static func wait(_ pid: pid_t, timeout: Double = 10) -> Bool {
        let watch = Stopwatch()
        while kill(pid, 0) == 0 || errno != ESRCH {
            if watch.seconds > timeout { return false }
            usleep(10_000)
        }
        return true
    }
}
