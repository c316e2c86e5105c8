import Checkpoint

/// The tree workload's lines of the report: frozen time read one process
/// after another against all at once, and whether the shared region was
/// stored once.
enum TreeReport {
    static func render(_ r: TreeCycle.Result, codec: Codec, markdown: Bool) -> String {
        let f = { (x: Double) in ResultTable.format(x, 3) }
        let mib = { (b: UInt64) in ResultTable.format(Double(b) / 1_048_576, 1) }
        let touched = Double(r.sharedMiB + r.processes * r.heapMiB)
        let once = r.storage.storedOnce(sharing: r.sharedMiB)
        let speedup = r.sequential.frozenSeconds / max(r.parallel.frozenSeconds, 1e-9)
        var lines: [String] = []
        let head = "tree: \(r.processes) processes sharing \(r.sharedMiB) MiB, \(r.heapMiB) MiB private heap each (\(Int(touched)) MiB touched), codec \(codec), best of \(r.runs)"
        lines.append(markdown ? "\n### \(head)\n" : "\n\(head)")
        let rows = [("one worker (process after process)", r.sequential), ("every core (crtool)", r.parallel)]
        if markdown {
            lines.append("| dump | wall s | frozen s | image MiB | restore s |")
            lines.append("| --- | --- | --- | --- | --- |")
            for (name, m) in rows {
                lines.append("| \(name) | \(f(m.dumpSeconds)) | \(f(m.frozenSeconds)) | \(mib(m.imageBytes)) | \(f(m.restoreSeconds)) |")
            }
        } else {
            for (name, m) in rows {
                lines.append("  \(name): dump \(f(m.dumpSeconds)) s, frozen \(f(m.frozenSeconds)) s, image \(mib(m.imageBytes)) MiB, restore \(f(m.restoreSeconds)) s")
            }
        }
        lines.append("target: every shared page stored once: \(once ? "met" : "NOT met") (shared-memory objects store "
            + "\(mib(r.storage.objectPages * 4096)) MiB for the \(r.sharedMiB) MiB region, process files "
            + "\(mib(r.storage.processPages * 4096)) MiB of shared memory; image \(mib(r.parallel.imageBytes)) MiB, "
            + "stored per process the region alone would be \(mib(UInt64(r.processes * r.sharedMiB) << 20)) MiB)")
        lines.append("target: reading the tree in parallel beats process after process: \(speedup > 1 ? "met" : "NOT met") "
            + "(frozen \(f(r.parallel.frozenSeconds)) s against \(f(r.sequential.frozenSeconds)) s, \(ResultTable.format(speedup, 2))x)")
        return lines.joined(separator: "\n")
    }
}
