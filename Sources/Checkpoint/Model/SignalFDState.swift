/// The saved state of one signalfd descriptor (filled in by its kind in Resources/).
public struct SignalFDState: Codable, Equatable, Sendable {
}
