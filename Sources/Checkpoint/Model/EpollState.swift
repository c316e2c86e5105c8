/// The saved state of one epoll descriptor (filled in by its kind in Resources/).
public struct EpollState: Codable, Equatable, Sendable {
}
