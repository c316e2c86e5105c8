import Foundation

/// The printed result: the setting and reference bandwidths, the table,
/// then the targets. In Markdown the loose lines become list items so
/// that they render as separate lines.
struct Report {
    let plan: BenchPlan
    let results: BenchResults

    func lines() -> [String] {
        let r = results
        let workers = ProcessInfo.processInfo.activeProcessorCount
        return [
            "\(plan.commandLine): best of \(plan.runs) per metric, dump and restore with \(workers) workers, "
                + ISO8601DateFormatter().string(from: Date()),
            "machine: \(MachineInfo.summary()); load average \(r.loadBefore) before, \(r.loadAfter) after",
            "warm-up: one untimed dump+restore of \(plan.largest) MiB random (\(plan.codecs[0])) ran first, in "
                + "\(ResultTable.format(r.warmUpSeconds, 1)) s: the first touch of fresh memory is slow on a VM",
            plan.warmPageCache
                ? "page cache: a file of size + 64 MiB written and deleted before every dump, so the image goes into memory the VM has not yet handed back to its host"
                : "page cache: not prepared (--no-warm-page-cache): dump times include the host's faults on memory the VM handed back",
            "process_vm_readv: \(ResultTable.format(r.readv.mibPerSecond, 0)) MiB/s (one thread, 2 MiB runs, "
                + "best of 3 reads of the fixture's \(r.readv.heapBytes >> 20) MiB heap)",
            "memcpy: \(ResultTable.format(r.memcpyMiBps, 0)) MiB/s (Swift Array copy of 256 MiB, best of 3)",
            placementLine(r.placement),
        ]
    }

    private func placementLine(_ placement: Result<PlacementProbe.Result, Error>) -> String {
        switch placement {
        case .success(let p):
            return "page placement: \(ResultTable.format(p.runsMiBps, 0)) MiB/s in 2 MiB runs, "
                + "\(ResultTable.format(p.singlePagesMiBps, 0)) MiB/s as single pages with a gap after each, "
                + "ratio \(ResultTable.format(p.ratio, 2)) (UFFDIO_COPY of \(p.mebibytes) MiB into fresh memory, "
                + "\(PlacementProbe.threads) threads with a userfaultfd each, best of 3)"
        case .failure(let error):
            return "page placement: not measured (\(error))"
        }
    }

    func render(markdown: Bool) -> String {
        let item = markdown ? "- " : ""
        let targets = Targets(cases: results.cases, readvMiBps: results.readv.mibPerSecond, placement: try? results.placement.get()).all()
        return (lines().map { item + $0 }
            + ["", ResultTable.make(results.cases, readvMiBps: results.readv.mibPerSecond).render(markdown: markdown), ""]
            + targets.map { item + $0.line }).joined(separator: "\n")
    }
}
