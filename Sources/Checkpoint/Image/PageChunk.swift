/// One independently compressed, checksummed piece of one process's memory.
///
/// Chunks are the unit of parallelism (one per compressing thread at a
/// time), of verification and of transfer: a chunk can be checked, skipped
/// or sent over a socket without touching its neighbours.
public struct PageChunk: Sendable, Equatable {
    public var pid: Int32
    public var ranges: [PageRange]
    /// The contents of `ranges`, concatenated in order: 4096 bytes per page.
    public var data: [UInt8]

    public init(pid: Int32, ranges: [PageRange], data: [UInt8]) {
        self.pid = pid
        self.ranges = ranges
        self.data = data
    }

    public var pageCount: UInt64 { ranges.reduce(0) { $0 + UInt64($1.pageCount) } }
}
