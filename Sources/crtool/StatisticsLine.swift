import Checkpoint
import Foundation

/// `crtool show`'s line for the statistics a dump kept beside its image:
/// the frozen and total time, each phase's, and the bytes, as the dump's
/// summary gave them when it ended.
enum StatisticsLine {
    static func text(_ s: DumpStatistics) -> String {
        let verb = s.operation == "pre-dump" ? "pre-dumped" : "dumped"
        let phases = s.phases.map { "\($0.name) \(milliseconds($0.seconds))" }.joined(separator: ", ")
        return "\(verb) in \(String(format: "%.2f s", s.totalSeconds)), the tree frozen \(milliseconds(s.frozenSeconds))"
            + (phases.isEmpty ? "" : " (phases: \(phases))")
            + "; read \(ByteCount.format(s.bytesRead)), wrote \(ByteCount.format(s.bytesWritten)), \(s.pagesStored) pages stored"
            + (s.zeroPages.map { ", \($0) zero pages skipped" } ?? "")
            + (s.pagesInherited > 0 ? ", \(s.pagesInherited) taken from the parent image" : "")
            + (s.treeRanOn ? "; the tree ran on" : "; the tree was killed or left stopped")
    }

    private static func milliseconds(_ seconds: Double) -> String {
        String(format: "%.1f ms", seconds * 1000)
    }
}
