/// Runs a plan: the untimed warm-up (which also measures process_vm_readv
/// on its fixture), the memcpy and page placement probes, then every case `runs` times, runs
/// outermost so that a slow spell of the machine spreads over all cases
/// instead of spoiling every run of one.
enum BenchRunner {
    static func run(_ plan: BenchPlan) throws -> BenchResults {
        let loadBefore = MachineInfo.loadAverage()
        Console.note("warm-up: dump and restore of \(plan.largest) MiB random (\(plan.codecs[0])), not counted")
        var readv: ReadvProbe.Result?
        let warmUp = Stopwatch()
        _ = try DumpRestoreCycle.run(heapMiB: plan.largest, workload: .random, codec: plan.codecs[0],
                                     warmPageCache: plan.warmPageCache) { fixture, _ in
            readv = try ReadvProbe.measure(fixture)
            return nil
        }
        let warmUpSeconds = warmUp.seconds
        let memcpy = CopyProbe.measure()
        let placement = Result { try PlacementProbe.measure() }

        var cases = plan.cases()
        for run in 1...plan.runs {
            for i in cases.indices {
                try Interruption.check()
                let m = try DumpRestoreCycle.run(heapMiB: cases[i].heapMiB, workload: cases[i].workload,
                                                 codec: cases[i].codec, warmPageCache: plan.warmPageCache)
                Console.note("run \(run)/\(plan.runs) \(cases[i].label): dump \(ResultTable.format(m.dumpSeconds, 3)) s, "
                    + "frozen \(ResultTable.format(m.frozenSeconds, 3)) s, restore \(ResultTable.format(m.restoreSeconds, 3)) s")
                cases[i].record(m)
            }
        }
        return BenchResults(warmUpSeconds: warmUpSeconds, readv: readv!, memcpyMiBps: memcpy, placement: placement, cases: cases,
                            loadBefore: loadBefore, loadAfter: MachineInfo.loadAverage())
    }
}
