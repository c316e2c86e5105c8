import Checkpoint

/// What to measure, from the command line.
struct BenchPlan {
    let sizes: [Int]
    let codecs: [Codec]
    let runs: Int
    let warmPageCache: Bool

    var largest: Int { sizes.max()! }

    /// Every size × workload × codec, in the order they run and print.
    func cases() -> [BenchCase] {
        sizes.flatMap { size in
            Workload.allCases.flatMap { workload in codecs.map { BenchCase(heapMiB: size, workload: workload, codec: $0) } }
        }
    }

    var commandLine: String {
        "crtool-bench --sizes \(sizes.map(String.init).joined(separator: ",")) "
            + "--codecs \(codecs.map(\.description).joined(separator: ",")) --runs \(runs)"
            + (warmPageCache ? "" : " --no-warm-page-cache")
    }
}
