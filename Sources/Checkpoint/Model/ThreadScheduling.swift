import Ptrace

/// How one thread was scheduled: policy, nice and priority, the CPUs it
/// could run on and its I/O priority (see Resources/SchedulingState.swift).
public struct ThreadScheduling: Codable, Equatable, Sendable {
    public var attributes: SchedulingAttributes
    /// CPU numbers, in order.
    public var cpus: [Int]
    /// ioprio_get's value (class << 13 | level); absent when it is just
    /// what the kernel derives from the policy and nice, so that it goes
    /// on following them after the restore as it did before.
    public var ioPriority: Int32?

    public init(attributes: SchedulingAttributes, cpus: [Int], ioPriority: Int32?) {
        self.attributes = attributes
        self.cpus = cpus
        self.ioPriority = ioPriority
    }
}
