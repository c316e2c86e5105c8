/// The saved state of one eventfd descriptor (see Resources/EventFDs.swift).
public struct EventFDState: Codable, Equatable, Sendable {
    /// The counter ("eventfd-count" in fdinfo).
    public var count: UInt64
    /// EFD_SEMAPHORE: reads take 1 instead of the whole counter.
    public var semaphore: Bool

    public init(count: UInt64, semaphore: Bool) {
        self.count = count
        self.semaphore = semaphore
    }
}
