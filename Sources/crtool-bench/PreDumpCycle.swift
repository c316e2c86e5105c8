import Checkpoint
import Glibc
import Ptrace

/// How much a pre-dump shortens the freeze of the dump made on it: a
/// `random` counter is pre-dumped (it runs on, writing its counter and
/// scratch pages every tick), dumped on top of the pre-dump a few ticks
/// later, and restored from both, heap checked; a plain dump and restore
/// of a fresh counter of the same size alternates with it, runs
/// outermost.
enum PreDumpCycle {
    struct Result {
        var heapMiB: Int
        var runs: Int
        var plain: Measurement
        var preDump: Measurement
        var dumpOnPreDump: Measurement
    }

    static func run(heapMiB: Int, codec: Codec, runs: Int, warmPageCache: Bool) throws -> Result {
        var best: Result?
        for run in 1...runs {
            Console.note("pre-dump \(heapMiB) MiB, run \(run) of \(runs)")
            let plain = try DumpRestoreCycle.run(heapMiB: heapMiB, workload: .random, codec: codec, warmPageCache: warmPageCache)
            let (pre, dump) = try once(heapMiB: heapMiB, codec: codec, warmPageCache: warmPageCache)
            if let b = best {
                best = Result(heapMiB: heapMiB, runs: runs, plain: b.plain.best(plain), preDump: b.preDump.best(pre),
                              dumpOnPreDump: b.dumpOnPreDump.best(dump))
            } else {
                best = Result(heapMiB: heapMiB, runs: runs, plain: plain, preDump: pre, dumpOnPreDump: dump)
            }
        }
        return best!
    }

    private static func once(heapMiB: Int, codec: Codec, warmPageCache: Bool) throws -> (Measurement, Measurement) {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let fixture = try CounterFixture.start(heapMiB: heapMiB, workload: .random, in: scratch)
        var running: pid_t? = fixture.pid
        defer { if let pid = running { try? ChildReaper.killAndReap(pid) } }

        let preDirectory = scratch.path + "/pre"
        var preOptions = PreDumpOptions(pid: fixture.pid, directory: preDirectory)
        preOptions.codec = codec
        preOptions.quiet = true
        if warmPageCache { try FreshPageCache.recycle(mebibytes: heapMiB + 64, in: scratch.path) }
        let (pre, preSeconds) = try Stopwatch.time { try TracerThread.run { try PreDumper.preDump(preOptions) } }
        defer { if let keeper = pre.keeperPid { kill(keeper, SIGKILL) } }
        try fixture.waitForTick(after: fixture.log.lines().count)
        try fixture.waitForTick(after: fixture.log.lines().count)

        var dumpOptions = DumpOptions(pid: fixture.pid, directory: scratch.imagePath)
        dumpOptions.codec = codec
        dumpOptions.quiet = true
        dumpOptions.parent = preDirectory
        let (report, dumpSeconds) = try Stopwatch.time { try TracerThread.run { try Dumper.dump(dumpOptions) } }
        guard try ChildReaper.reap(fixture.pid, timeout: 30) else {
            throw BenchError("pid \(fixture.pid) still runs 30 s after its dump")
        }
        running = nil
        let imageBytes = try scratch.imageBytes()

        let mark = fixture.log.lines().count
        var restoreOptions = RestoreOptions(directory: scratch.imagePath)
        restoreOptions.quiet = true
        let (restored, restoreSeconds) = try Stopwatch.time { try TracerThread.run { try Restorer.restore(restoreOptions) } }
        running = restored.pid
        try fixture.waitForTick(after: mark)
        try fixture.verifyHeap(after: mark)
        try ChildReaper.killAndReap(restored.pid)
        running = nil

        let preMeasure = Measurement(dumpSeconds: preSeconds, frozenSeconds: pre.frozenSeconds, imageBytes: pre.bytesWritten,
                                     storedBytes: pre.pagesStored * 4096, restoreSeconds: 0)
        let dumpMeasure = Measurement(dumpSeconds: dumpSeconds, frozenSeconds: report.frozenSeconds, imageBytes: imageBytes,
                                      storedBytes: report.pagesStored * 4096, restoreSeconds: restoreSeconds)
        return (preMeasure, dumpMeasure)
    }
}
