import Checkpoint

/// CRIU's --display-stats: a run's numbers, one to a line under a heading,
/// printed at its end even with -q. The summary says the same in one
/// sentence for a person; this form lets a script or a comparison of runs
/// read one number off by its name, with bytes and pages exact.
enum Statistics {
    static func dump(_ r: DumpReport) -> String {
        block("dump statistics", [
            ("processes", "\(r.processes)"),
            ("threads", "\(r.threads)"),
            ("VMAs", "\(r.vmas)"),
            ("frozen time", seconds(r.frozenSeconds)),
            ("total time", seconds(r.totalSeconds)),
        ] + phases(r.phases) + [
            ("pages stored", "\(r.pagesStored)"),
            ("zero pages skipped", "\(r.zeroPages)"),
            ("pages taken from the parent image", "\(r.pagesInherited)"),
            ("bytes read", "\(r.bytesRead)"),
            ("bytes written", "\(r.bytesWritten) (\(r.codec))"),
        ])
    }

    static func preDump(_ r: PreDumpReport) -> String {
        block("pre-dump statistics", [
            ("processes", "\(r.processes)"),
            ("frozen time", seconds(r.frozenSeconds)),
            ("total time", seconds(r.totalSeconds)),
        ] + phases(r.phases) + [
            ("pages stored", "\(r.pagesStored)"),
            ("pages taken from the parent image", "\(r.pagesInherited)"),
            ("bytes read", "\(r.bytesRead)"),
            ("bytes written", "\(r.bytesWritten)"),
            ("VMAs tracked", "\(r.trackedVMAs)"),
        ])
    }

    static func restore(_ r: RestoreReport) -> String {
        block("restore statistics", [
            ("processes", "\(r.processes)"),
            ("threads", "\(r.threads)"),
            ("VMAs", "\(r.vmas)"),
            ("total time", seconds(r.seconds)),
        ] + phases(r.phases) + [
            ("bytes written", "\(r.bytesWritten)"),
        ])
    }

    private static func phases(_ phases: [(name: String, seconds: Double)]) -> [(String, String)] {
        phases.map { ("phase \($0.name)", seconds($0.seconds)) }
    }

    private static func seconds(_ s: Double) -> String {
        String(format: "%.6f s", s)
    }

    private static func block(_ heading: String, _ rows: [(String, String)]) -> String {
        ([heading + ":"] + rows.map { "  \($0.0): \($0.1)" }).joined(separator: "\n")
    }
}
