import Checkpoint

/// The pre-dump workload's lines of the report: a plain dump's freeze
/// against that of a dump made on a pre-dump, or on a checkpoint left
/// running with its writes tracked.
enum PreDumpReport {
    static func render(_ r: PreDumpCycle.Result, codec: Codec, markdown: Bool) -> String {
        let f = { (x: Double) in ResultTable.format(x, 3) }
        let mib = { (b: UInt64) in ResultTable.format(Double(b) / 1_048_576, 1) }
        var lines: [String] = []
        let head = "pre-dump: \(r.heapMiB) MiB random, codec \(codec), best of \(r.runs) (the counter writes its counter and scratch pages every 50 ms tick; the dump comes two ticks after the image it is made on)"
        lines.append(markdown ? "\n### \(head)\n" : "\n\(head)")
        let rows = [("plain dump", r.plain, true), ("pre-dump (the process runs on)", r.preDump, false),
                    ("dump on the pre-dump", r.dumpOnPreDump, true),
                    ("checkpoint, --leave-running --track-mem", r.trackedDump, false),
                    ("dump on that checkpoint", r.dumpOnTrackedDump, true)]
        if markdown {
            lines.append("| dump | wall s | frozen s | written MiB | restore s |")
            lines.append("| --- | --- | --- | --- | --- |")
            for (name, m, restored) in rows {
                lines.append("| \(name) | \(f(m.dumpSeconds)) | \(f(m.frozenSeconds)) | \(mib(m.imageBytes)) | \(restored ? f(m.restoreSeconds) : "-") |")
            }
        } else {
            for (name, m, restored) in rows {
                lines.append("  \(name): wall \(f(m.dumpSeconds)) s, frozen \(f(m.frozenSeconds)) s, written \(mib(m.imageBytes)) MiB"
                             + (restored ? ", restore \(f(m.restoreSeconds)) s" : ""))
            }
        }
        let shorter = r.plain.frozenSeconds / max(r.dumpOnPreDump.frozenSeconds, 1e-9)
        lines.append("a dump on a pre-dump is frozen \(f(r.dumpOnPreDump.frozenSeconds)) s against \(f(r.plain.frozenSeconds)) s for a plain dump (\(ResultTable.format(shorter, 1))x shorter); the restore takes the pre-dump's pages")
        lines.append("a dump on a checkpoint that tracked writes is frozen \(f(r.dumpOnTrackedDump.frozenSeconds)) s; that checkpoint, a whole image, was frozen \(f(r.trackedDump.frozenSeconds)) s against \(f(r.plain.frozenSeconds)) s for a plain dump that kills the process")
        return lines.joined(separator: "\n")
    }
}
