import Foundation

/// The per-case rows of the report. dump / readv puts each dump next to
/// the machine's own ceiling, which says more than MiB/s alone.
enum ResultTable {
    static func make(_ cases: [BenchCase], readvMiBps: Double) -> TextTable {
        var table = TextTable(
            headers: ["size MiB", "workload", "codec", "dump s", "frozen s", "dump MiB/s", "dump/readv",
                      "image MiB", "restore s", "restore MiB/s"],
            leftAligned: 3)
        for c in cases {
            guard let m = c.best, let dump = c.dumpMiBps, let restore = c.restoreMiBps, let image = c.imageMiB else { continue }
            table.rows.append([
                String(c.heapMiB), c.workload.rawValue, c.codec.description,
                format(m.dumpSeconds, 3), format(m.frozenSeconds, 3), format(dump, 0), format(dump / readvMiBps, 2),
                format(image, 1), format(m.restoreSeconds, 3), format(restore, 0),
            ])
        }
        return table
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}
