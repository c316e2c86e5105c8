/// One POSIX timer (timer_create) of a process: its id, clock, how it
/// notifies, and its time left and period at dump time.
public struct PosixTimerImage: Codable, Equatable, Sendable {
    public var id: Int32
    /// A clock id as timer_create takes it: negative for the CPU-time
    /// clock of a process or thread, which names its pid or tid.
    public var clock: Int32
    /// SIGEV_SIGNAL (0), SIGEV_NONE (1), SIGEV_THREAD (2), with
    /// SIGEV_THREAD_ID (4) added for a timer that signals one thread.
    public var notify: Int32
    public var signal: Int32
    /// The sigev_value the program gave, delivered in si_value.
    public var value: UInt64
    /// The thread SIGEV_THREAD_ID notifies.
    public var thread: Int32
    public var intervalNanoseconds: UInt64
    public var valueNanoseconds: UInt64
}
