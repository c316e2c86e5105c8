/// The saved state of one inetSocket descriptor (filled in by its kind in Resources/).
public struct InetSocketState: Codable, Equatable, Sendable {
}
