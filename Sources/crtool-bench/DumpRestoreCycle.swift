import Checkpoint
import Glibc
import Ptrace

/// One full cycle on a fresh fixture: start it, dump it (which kills it),
/// reap it, restore it detached, prove the restored process runs and has
/// its whole heap, kill and reap it, remove the image. Only the dump and
/// the restore calls are timed; a restore that does not come back alive
/// is an error, never a fast result. With `warmPageCache`, page-cache memory
/// for the image is recycled right before the dump (see FreshPageCache).
/// `beforeDump` may return a pre-dump it made for the dump to be made on.
enum DumpRestoreCycle {
    static func run(heapMiB: Int, workload: Workload, codec: Codec, warmPageCache: Bool,
                    beforeDump: ((CounterFixture, ScratchDirectory) throws -> String?)? = nil) throws -> Measurement {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let fixture = try CounterFixture.start(heapMiB: heapMiB, workload: workload, in: scratch)
        var running: pid_t? = fixture.pid
        defer { if let pid = running { try? ChildReaper.killAndReap(pid) } }
        let parent = try beforeDump?(fixture, scratch)

        var dumpOptions = DumpOptions(pid: fixture.pid, directory: scratch.imagePath)
        dumpOptions.codec = codec
        dumpOptions.quiet = true
        dumpOptions.parent = parent
        if warmPageCache { try FreshPageCache.recycle(mebibytes: heapMiB + 64, in: scratch.path) }
        let (report, dumpSeconds) = try Stopwatch.time {
            try TracerThread.run { try Dumper.dump(dumpOptions) }
        }
        guard try ChildReaper.reap(fixture.pid, timeout: 30) else {
            throw BenchError("pid \(fixture.pid) still runs 30 s after its dump")
        }
        running = nil
        let imageBytes = try scratch.imageBytes()

        let mark = fixture.log.lines().count
        var restoreOptions = RestoreOptions(directory: scratch.imagePath)
        restoreOptions.quiet = true
        let (restored, restoreSeconds) = try Stopwatch.time {
            try TracerThread.run { try Restorer.restore(restoreOptions) }
        }
        running = restored.pid
        guard restored.pid == fixture.pid else {
            throw BenchError("restored pid \(restored.pid), expected \(fixture.pid)")
        }
        try fixture.waitForTick(after: mark)
        try fixture.verifyHeap(after: mark)
        try ChildReaper.killAndReap(restored.pid)
        running = nil

        return Measurement(dumpSeconds: dumpSeconds, frozenSeconds: report.frozenSeconds,
                           imageBytes: imageBytes, storedBytes: report.pagesStored * 4096,
                           restoreSeconds: restoreSeconds)
    }
}
