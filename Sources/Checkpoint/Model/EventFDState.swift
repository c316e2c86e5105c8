/// The saved state of one eventfd descriptor (filled in by its kind in Resources/).
public struct EventFDState: Codable, Equatable, Sendable {
}
