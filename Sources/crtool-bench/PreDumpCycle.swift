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
        var pre: Measurement?
        var keeper: pid_t?
        defer { if let keeper { kill(keeper, SIGKILL) } }
        // The page cache is recycled for the pre-dump, which writes the
        // pages; the dump on it writes a few.
        let dump = try DumpRestoreCycle.run(heapMiB: heapMiB, workload: .random, codec: codec, warmPageCache: false) { fixture, scratch in
            let directory = scratch.path + "/pre"
            var options = PreDumpOptions(pid: fixture.pid, directory: directory)
            options.codec = codec
            options.quiet = true
            if warmPageCache { try FreshPageCache.recycle(mebibytes: heapMiB + 64, in: scratch.path) }
            let (report, seconds) = try Stopwatch.time { try TracerThread.run { try PreDumper.preDump(options) } }
            keeper = report.keeperPid
            pre = Measurement(dumpSeconds: seconds, frozenSeconds: report.frozenSeconds, imageBytes: report.bytesWritten,
                              storedBytes: report.pagesStored * 4096, restoreSeconds: 0)
            try fixture.waitForTick(after: fixture.log.lines().count)
            try fixture.waitForTick(after: fixture.log.lines().count)
            return directory
        }
        return (pre!, dump)
    }
}
