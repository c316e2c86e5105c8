/// The saved state of one pidfd descriptor (see Resources/PidFDs.swift).
public struct PidFDState: Codable, Equatable, Sendable {
    /// The process (or, with PIDFD_THREAD, the thread) it refers to.
    public var pid: Int32
    /// For a process outside the image: its start time (clock ticks after
    /// boot), so the restore opens a pidfd only on that same process, not
    /// on a later one that was given its pid. Absent for a process of the
    /// image, which the restore makes again itself.
    public var outsideStartTime: UInt64?

    public init(pid: Int32, outsideStartTime: UInt64?) {
        self.pid = pid
        self.outsideStartTime = outsideStartTime
    }
}
