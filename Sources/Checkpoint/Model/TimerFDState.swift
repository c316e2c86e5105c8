/// The saved state of one timerfd descriptor (filled in by its kind in Resources/).
public struct TimerFDState: Codable, Equatable, Sendable {
}
