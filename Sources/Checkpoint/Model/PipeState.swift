/// The saved state of one pipe descriptor (filled in by its kind in Resources/).
public struct PipeState: Codable, Equatable, Sendable {
}
