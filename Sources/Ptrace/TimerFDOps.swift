import CSupport
import Glibc

/// A timer's setting in nanoseconds: time to the next expiration (0:
/// disarmed) and the period (0: one-shot), as timerfd_gettime reports.
public struct TimerSetting: Equatable, Sendable {
    public var value: UInt64
    public var interval: UInt64
    public init(value: UInt64, interval: UInt64) {
        self.value = value
        self.interval = interval
    }
}

/// timerfd(2) for crtool's own use.
public enum TimerFDOps {
    /// TFD_IOC_SET_TICKS, _IOW('T', 0, __u64): needs CONFIG_CHECKPOINT_RESTORE.
    static let setTicksRequest: UInt64 = 0x4008_5400

    public static func create(clock: Int32, flags: Int32) throws -> Int32 {
        let r = cr_syscall6(283, UInt64(UInt32(bitPattern: clock)), UInt64(UInt32(bitPattern: flags)), 0, 0, 0, 0) // timerfd_create
        if r < 0 { throw SystemError("timerfd_create on clock \(clock)") }
        return Int32(r)
    }

    /// timerfd_gettime. On a periodic timer whose expiration nobody read
    /// yet, this is also what moves the kernel's tick count past every
    /// period that went by (the kernel does that on any gettime or read).
    public static func get(_ fd: Int32) throws -> TimerSetting {
        var spec = itimerspec()
        let r = withUnsafeMutablePointer(to: &spec) {
            cr_syscall6(287, UInt64(fd), UInt64(UInt(bitPattern: $0)), 0, 0, 0, 0) // timerfd_gettime
        }
        if r < 0 { throw SystemError("timerfd_gettime of fd \(fd)") }
        return TimerSetting(value: nanoseconds(spec.it_value), interval: nanoseconds(spec.it_interval))
    }

    /// timerfd_settime with TFD_TIMER_* `flags`.
    public static func set(_ fd: Int32, flags: Int32, _ setting: TimerSetting) throws {
        var spec = itimerspec(it_interval: timespecOf(setting.interval), it_value: timespecOf(setting.value))
        let r = withUnsafeMutablePointer(to: &spec) {
            cr_syscall6(286, UInt64(fd), UInt64(UInt32(bitPattern: flags)), UInt64(UInt(bitPattern: $0)), 0, 0, 0) // timerfd_settime
        }
        if r < 0 { throw SystemError("timerfd_settime of fd \(fd)") }
    }

    /// Sets the count of expirations not yet read (TFD_IOC_SET_TICKS).
    public static func setTicks(_ fd: Int32, _ ticks: UInt64) throws {
        var value = ticks
        let r = withUnsafeMutablePointer(to: &value) {
            cr_syscall6(16, UInt64(fd), setTicksRequest, UInt64(UInt(bitPattern: $0)), 0, 0, 0) // ioctl
        }
        if r < 0 { throw SystemError("TFD_IOC_SET_TICKS of fd \(fd) to \(ticks)") }
    }

    /// The current time of `clock` in nanoseconds.
    public static func now(clock: Int32) throws -> UInt64 {
        var ts = timespec()
        if clock_gettime(clockid_t(clock), &ts) != 0 { throw SystemError("clock_gettime of clock \(clock)") }
        return nanoseconds(ts)
    }

    static func timespecOf(_ nanoseconds: UInt64) -> timespec {
        timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }

    static func nanoseconds(_ ts: timespec) -> UInt64 {
        UInt64(max(ts.tv_sec, 0)) * 1_000_000_000 + UInt64(max(ts.tv_nsec, 0))
    }
}

