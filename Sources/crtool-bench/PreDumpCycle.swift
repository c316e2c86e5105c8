import Checkpoint
import Glibc
import Ptrace

/// How much an image that tracks the tree's writes shortens the freeze of
/// the dump made on it: a `random` counter is pre-dumped (it runs on,
/// writing its counter and scratch pages every tick), dumped on top of the
/// pre-dump a few ticks later, and restored from both, heap checked; the
/// same with a whole checkpoint left running (dump --leave-running
/// --track-mem) in place of the pre-dump, as periodic checkpoints do; a
/// plain dump and restore of a fresh counter of the same size alternates
/// with them, runs outermost.
enum PreDumpCycle {
    struct Result {
        var heapMiB: Int
        var runs: Int
        var plain: Measurement
        var preDump: Measurement
        var dumpOnPreDump: Measurement
        var trackedDump: Measurement
        var dumpOnTrackedDump: Measurement
    }

    /// The image a dump is then made on.
    private enum Base {
        case preDump, trackedDump
    }

    static func run(heapMiB: Int, codec: Codec, runs: Int, warmPageCache: Bool) throws -> Result {
        var best: Result?
        for run in 1...runs {
            Console.note("pre-dump \(heapMiB) MiB, run \(run) of \(runs)")
            let plain = try DumpRestoreCycle.run(heapMiB: heapMiB, workload: .random, codec: codec, warmPageCache: warmPageCache)
            let (pre, dump) = try once(on: .preDump, heapMiB: heapMiB, codec: codec, warmPageCache: warmPageCache)
            let (tracked, dumpOnTracked) = try once(on: .trackedDump, heapMiB: heapMiB, codec: codec, warmPageCache: warmPageCache)
            if let b = best {
                best = Result(heapMiB: heapMiB, runs: runs, plain: b.plain.best(plain), preDump: b.preDump.best(pre),
                              dumpOnPreDump: b.dumpOnPreDump.best(dump), trackedDump: b.trackedDump.best(tracked),
                              dumpOnTrackedDump: b.dumpOnTrackedDump.best(dumpOnTracked))
            } else {
                best = Result(heapMiB: heapMiB, runs: runs, plain: plain, preDump: pre, dumpOnPreDump: dump,
                              trackedDump: tracked, dumpOnTrackedDump: dumpOnTracked)
            }
        }
        return best!
    }

    private static func once(on base: Base, heapMiB: Int, codec: Codec, warmPageCache: Bool) throws -> (Measurement, Measurement) {
        var pre: Measurement?
        var keeper: pid_t?
        defer { if let keeper { kill(keeper, SIGKILL) } }
        // The page cache is recycled for the base image, which writes the
        // pages; the dump on it writes a few.
        let dump = try DumpRestoreCycle.run(heapMiB: heapMiB, workload: .random, codec: codec, warmPageCache: false) { fixture, scratch in
            let directory = scratch.path + "/base"
            if warmPageCache { try FreshPageCache.recycle(mebibytes: heapMiB + 64, in: scratch.path) }
            // (keeper, frozen s, bytes written, pages stored) of the base.
            let made: (keeper: pid_t?, frozen: Double, written: UInt64, pages: UInt64)
            let seconds: Double
            switch base {
            case .preDump:
                var options = PreDumpOptions(pid: fixture.pid, directory: directory)
                options.codec = codec
                options.quiet = true
                let (report, s) = try Stopwatch.time { try TracerThread.run { try PreDumper.preDump(options) } }
                (made, seconds) = ((report.keeperPid, report.frozenSeconds, report.bytesWritten, report.pagesStored), s)
            case .trackedDump:
                var options = DumpOptions(pid: fixture.pid, directory: directory)
                options.codec = codec
                options.quiet = true
                options.leaveRunning = true
                options.trackMemory = true
                let (report, s) = try Stopwatch.time { try TracerThread.run { try Dumper.dump(options) } }
                (made, seconds) = ((report.trackerKeeperPid, report.frozenSeconds, report.bytesWritten, report.pagesStored), s)
            }
            keeper = made.keeper
            pre = Measurement(dumpSeconds: seconds, frozenSeconds: made.frozen, imageBytes: made.written,
                              storedBytes: made.pages * 4096, restoreSeconds: 0)
            try fixture.waitForTick(after: fixture.log.lines().count)
            try fixture.waitForTick(after: fixture.log.lines().count)
            return directory
        }
        return (pre!, dump)
    }
}
