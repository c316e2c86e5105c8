/// The saved state of one signalfd descriptor (see Resources/SignalFDs.swift).
/// The signals it will read are the process's pending signals, saved with
/// the threads; the descriptor itself holds only which ones it accepts.
public struct SignalFDState: Codable, Equatable, Sendable {
    /// The accepted signals ("sigmask" in fdinfo): bit N-1 for signal N.
    public var mask: UInt64

    public init(mask: UInt64) {
        self.mask = mask
    }
}
