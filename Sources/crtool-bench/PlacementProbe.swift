import Dispatch
import Ptrace

/// What filling untouched memory costs this machine's kernel: the floor
/// under a restore's pages phase, in the two layouts of the workloads.
/// random's pages come in long runs, copied 2 MiB at a time; half's are
/// single pages with a page-sized gap after each, one copy per page. Two
/// threads, each with its own userfaultfd over its own half of a fresh
/// region, copy from a source too big for the caches, as restore workers
/// do. The ratio of the two rates is what scattering alone costs, however
/// little the gaps themselves cost.
enum PlacementProbe {
    struct Result {
        var runsMiBps: Double
        var singlePagesMiBps: Double
        var mebibytes: Int

        var ratio: Double { singlePagesMiBps / runsMiBps }
    }

    static let threads = 2

    /// Best of `passes` of each layout, alternating.
    static func measure(mebibytes: Int = 512, passes: Int = 3) throws -> Result {
        let source = SourceBytes.array([UInt8](repeating: 0x5a, count: mebibytes << 20))
        var runs = 0.0, single = 0.0
        for _ in 0..<passes {
            runs = max(runs, try pass(source, pagesPerCopy: 512, stride: 1))
            single = max(single, try pass(source, pagesPerCopy: 1, stride: 2))
        }
        return Result(runsMiBps: runs, singlePagesMiBps: single, mebibytes: mebibytes)
    }

    /// Copies all of `source` into a fresh region, `pagesPerCopy` pages a
    /// copy, each copy placed `stride` copy-sizes after the previous one.
    /// Returns MiB/s.
    private static func pass(_ source: SourceBytes, pagesPerCopy: Int, stride: Int) throws -> Double {
        let copySize = pagesPerCopy * 4096
        let copies = source.count / copySize
        let region = try AnonymousMapping(size: copies * copySize * stride)
        let perThread = copies / threads
        let shares = (0..<threads).map { t in (t * perThread)..<(t == threads - 1 ? copies : (t + 1) * perThread) }
        func address(_ copy: Int) -> UInt64 { region.address + UInt64(copy * copySize * stride) }
        var userfaults: [RemoteUserfault] = []
        for share in shares {
            let userfault = try RemoteUserfault.ofThisProcess()
            try userfault.registerMissing(address(share.lowerBound)..<address(share.upperBound))
            userfaults.append(userfault)
        }
        let lock = Lock()
        var failure: Error?
        let watch = Stopwatch()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            do {
                for copy in shares[t] {
                    try userfaults[t].copy(source, range: (copy * copySize)..<((copy + 1) * copySize), to: address(copy))
                }
            } catch {
                lock.withLock { if failure == nil { failure = error } }
            }
        }
        let seconds = watch.seconds
        if let failure { throw failure }
        return Double(copies * copySize) / 1048576 / seconds
    }
}
