import Checkpoint
import Foundation

/// The performance targets, checked against the best measurements. Each
/// is judged at the largest size of the run (2048 MiB by default), where
/// fixed costs (the process's other mappings, starting the restore stub)
/// no longer hide what is being judged. Sizes are MiB of touched memory.
struct Targets {
    let cases: [BenchCase]
    let readvMiBps: Double
    /// The kernel's own cost of scattered pages, to read the restore-time
    /// target against; it does not change the verdict.
    let placement: PlacementProbe.Result?

    var largest: Int { cases.map(\.heapMiB).max() ?? 0 }

    func all() -> [TargetCheck] {
        [dumpNearReadv(), restoreNearReadv(), zeroPagesTakeNoImageBytes(), zeroPagesTakeNoRestoreTime(),
         zstdDumpKeepsUp(), zstdImageNoBiggerThanRandomHalf()]
    }

    private func find(_ size: Int, _ workload: Workload, _ kind: CodecKind) -> BenchCase? {
        cases.first { $0.heapMiB == size && $0.workload == workload && $0.codec.kind == kind && $0.best != nil }
    }

    private func f(_ value: Double, _ decimals: Int = 0) -> String { ResultTable.format(value, decimals) }

    /// With nothing to skip or compress, a dump should be bounded by
    /// reading the memory, not by what happens after.
    func dumpNearReadv() -> TargetCheck {
        let claim = "dump --compress none of \(largest) MiB random at >= 1/2 of readv bandwidth"
        guard let c = find(largest, .random, .none), let rate = c.dumpMiBps else { return TargetCheck(claim, missing: "needs codec none") }
        return TargetCheck(claim, met: rate >= readvMiBps / 2,
                           "\(f(rate)) MiB/s, readv \(f(readvMiBps)) MiB/s, ratio \(f(rate / readvMiBps, 2))")
    }

    func restoreNearReadv() -> TargetCheck {
        let claim = "restore of \(largest) MiB random, codec none, at >= 1/2 of readv bandwidth"
        guard let c = find(largest, .random, .none), let rate = c.restoreMiBps else { return TargetCheck(claim, missing: "needs codec none") }
        return TargetCheck(claim, met: rate >= readvMiBps / 2,
                           "\(f(rate)) MiB/s, readv \(f(readvMiBps)) MiB/s, ratio \(f(rate / readvMiBps, 2))")
    }

    /// Zero pages are skipped, so a half-zero heap makes a half-size image.
    func zeroPagesTakeNoImageBytes() -> TargetCheck {
        let claim = "zero pages cost no image bytes: image of \(largest) MiB half, codec none, within 5% of size/2"
        guard let c = find(largest, .half, .none), let image = c.imageMiB else { return TargetCheck(claim, missing: "needs codec none") }
        let half = Double(largest) / 2
        return TargetCheck(claim, met: abs(image - half) <= 0.05 * half,
                           "\(f(image, 2)) MiB, size/2 \(f(half, 0)) MiB, " + String(format: "%+.2f%%", (image / half - 1) * 100))
    }

    /// Skipped pages must not be paid for at restore either: per byte
    /// actually written, half restores as fast as random (10% allowed
    /// for noise).
    func zeroPagesTakeNoRestoreTime() -> TargetCheck {
        let claim = "zero pages cost no restore time: half restores its stored bytes at >= 90% of random's rate (\(largest) MiB, codec none)"
        guard let half = find(largest, .half, .none), let random = find(largest, .random, .none),
              let halfRate = half.restoreStoredMiBps, let randomRate = random.restoreStoredMiBps else {
            return TargetCheck(claim, missing: "needs codec none")
        }
        return TargetCheck(claim, met: halfRate >= 0.9 * randomRate,
                           "half \(f(halfRate)) stored MiB/s in \(f(half.best!.restoreSeconds, 3)) s, "
                               + "random \(f(randomRate)) stored MiB/s in \(f(random.best!.restoreSeconds, 3)) s, "
                               + "ratio \(f(halfRate / randomRate, 2))"
                               + (placement.map { "; the machine's own page placement: single pages at \(f($0.ratio, 2)) of the rate of runs" } ?? ""))
    }

    /// Compression runs on every core beside the copying, so it should
    /// cost little wall time even on incompressible pages.
    func zstdDumpKeepsUp() -> TargetCheck {
        let claim = "zstd dump of \(largest) MiB random takes <= 1.5x the none dump"
        guard let zstd = find(largest, .random, .zstd), let none = find(largest, .random, .none) else {
            return TargetCheck(claim, missing: "needs codecs none and zstd")
        }
        let ratio = zstd.best!.dumpSeconds / none.best!.dumpSeconds
        return TargetCheck(claim, met: ratio <= 1.5,
                           "zstd \(f(zstd.best!.dumpSeconds, 3)) s, none \(f(none.best!.dumpSeconds, 3)) s, \(f(ratio, 2))x")
    }

    /// Incompressible chunks are stored raw, so zstd never makes the
    /// random half bigger, and the zero half costs nothing.
    func zstdImageNoBiggerThanRandomHalf() -> TargetCheck {
        let claim = "zstd image of \(largest) MiB half <= size/2 + 1%"
        guard let c = find(largest, .half, .zstd), let image = c.imageMiB else { return TargetCheck(claim, missing: "needs codec zstd") }
        let limit = Double(largest) / 2 * 1.01
        return TargetCheck(claim, met: image <= limit, "\(f(image, 2)) MiB, limit \(f(limit, 2)) MiB")
    }
}
