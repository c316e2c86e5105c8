import Foundation

/// The saved state of one pipe or FIFO descriptor (see Resources/Pipes.swift).
public struct PipeState: Codable, Equatable, Sendable {
    /// F_GETPIPE_SZ: the restored pipe gets the same capacity, so a writer
    /// blocks at the same fill level as before.
    public var capacity: Int
    /// The bytes buffered in the pipe at dump time, in order. Saved with
    /// every descriptor that can read them (nil on write-only ends: the
    /// bytes belong to the pipe, and are put back once per pipe).
    public var data: Data?

    public init(capacity: Int, data: Data? = nil) {
        self.capacity = capacity
        self.data = data
    }
}
