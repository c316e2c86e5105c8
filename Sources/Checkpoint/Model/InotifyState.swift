/// The saved state of one inotify descriptor (filled in by its kind in Resources/).
public struct InotifyState: Codable, Equatable, Sendable {
}
