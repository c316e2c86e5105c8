import Checkpoint

/// One row of the report: a heap size, what the heap holds and the codec,
/// with the best measurement over the runs. Throughputs are in MiB of
/// touched memory per second, so rows of one size compare directly even
/// when the dump skipped half the pages.
struct BenchCase {
    let heapMiB: Int
    let workload: Workload
    let codec: Codec
    var best: Measurement?

    var label: String { "\(heapMiB) MiB \(workload.rawValue) \(codec)" }

    var dumpMiBps: Double? { best.map { Double(heapMiB) / $0.dumpSeconds } }
    var restoreMiBps: Double? { best.map { Double(heapMiB) / $0.restoreSeconds } }
    var imageMiB: Double? { best.map { Double($0.imageBytes) / 1048576 } }

    /// Restore speed counted in the bytes it had to write: what shows
    /// whether skipped zero pages cost restore time.
    var restoreStoredMiBps: Double? {
        best.map { Double($0.storedBytes) / 1048576 / $0.restoreSeconds }
    }

    mutating func record(_ m: Measurement) {
        best = best.map { $0.best(m) } ?? m
    }
}
