/// What a dump's and a pre-dump's reports both measure.
protocol MeasuredDump {
    var frozenSeconds: Double { get }
    var totalSeconds: Double { get }
    var phases: [(name: String, seconds: Double)] { get }
    var pagesStored: UInt64 { get }
    var pagesInherited: UInt64 { get }
    var bytesRead: UInt64 { get }
    var bytesWritten: UInt64 { get }
}

extension DumpReport: MeasuredDump {}
extension PreDumpReport: MeasuredDump {}

extension DumpStatistics {
    init(_ operation: String, _ r: some MeasuredDump, zeroPages: UInt64?, treeRanOn: Bool) {
        self.init(operation: operation, frozenSeconds: r.frozenSeconds, totalSeconds: r.totalSeconds, phases: r.phases,
                  pagesStored: r.pagesStored, zeroPages: zeroPages, pagesInherited: r.pagesInherited,
                  bytesRead: r.bytesRead, bytesWritten: r.bytesWritten, treeRanOn: treeRanOn)
    }

    /// Keeps the statistics beside the image. The image is complete and
    /// the tree let go or killed by then, so a file that cannot be written
    /// fails nothing: the sentence returned says so, for the report.
    func kept(in directory: String) -> String? {
        do {
            try write(to: directory)
            return nil
        } catch {
            return "the \(operation)'s statistics were not kept in \(Self.fileName): \(error)"
        }
    }
}
