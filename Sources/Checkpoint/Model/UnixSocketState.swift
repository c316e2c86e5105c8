/// The saved state of one unixSocket descriptor (filled in by its kind in Resources/).
public struct UnixSocketState: Codable, Equatable, Sendable {
}
