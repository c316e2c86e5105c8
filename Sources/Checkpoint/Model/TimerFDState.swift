/// The saved state of one timerfd descriptor (see Resources/TimerFDs.swift).
public struct TimerFDState: Codable, Equatable, Sendable {
    /// CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, or an _ALARM clock.
    public var clock: Int32
    /// TFD_TIMER_ABSTIME / TFD_TIMER_CANCEL_ON_SET as last given to timerfd_settime.
    public var settimeFlags: Int32
    /// Time left to the next expiration at dump time, in nanoseconds; 0 when disarmed.
    public var remainingNanoseconds: UInt64
    /// The period in nanoseconds; 0 for a one-shot timer.
    public var intervalNanoseconds: UInt64
    /// Expirations that had happened and were not read yet.
    public var ticks: UInt64
    /// The timer's clock at the moment `remainingNanoseconds` was taken, so
    /// an absolute wall-clock deadline can be kept as it was.
    public var clockAtDumpNanoseconds: UInt64

    public init(clock: Int32, settimeFlags: Int32, remainingNanoseconds: UInt64, intervalNanoseconds: UInt64,
                ticks: UInt64, clockAtDumpNanoseconds: UInt64) {
        self.clock = clock
        self.settimeFlags = settimeFlags
        self.remainingNanoseconds = remainingNanoseconds
        self.intervalNanoseconds = intervalNanoseconds
        self.ticks = ticks
        self.clockAtDumpNanoseconds = clockAtDumpNanoseconds
    }
}
