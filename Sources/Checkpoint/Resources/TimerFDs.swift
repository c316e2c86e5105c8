import Foundation
import Glibc
import Ptrace

/// timerfd descriptors: clock, settime flags, time left, period, and the
/// expirations not read yet.
///
/// Time left: a timer is re-armed with the time it had left at the dump,
/// counted from the restore, so the process does not see the time it spent
/// checkpointed as a burst of expirations (as its sleeps resume with the
/// time they had left). The one exception is an absolute CLOCK_REALTIME
/// deadline (TFD_TIMER_ABSTIME on a wall clock): that is a date and is kept;
/// if it passed meanwhile the timer fires at once, with the periods that
/// went by counted, as it would have for the original.
///
/// Ticks: expirations that happened and were not read are put back with
/// TFD_IOC_SET_TICKS, so the next read returns them; a periodic timer
/// then goes on adding its own.
enum TimerFDs: FileKind {
    static let kind = FileDescriptorImage.Kind.timerfd
    static let absolute: Int32 = 1 // TFD_TIMER_ABSTIME

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[timerfd]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let local = try context.local(p.fd)
        let file = "/proc/\(p.pid)/fdinfo/\(p.fd)"
        // A periodic timer that expired with nobody reading is not re-armed
        // by the kernel until someone asks: timerfd_gettime does that and
        // counts the periods gone by into the ticks. fdinfo then shows
        // ticks and time left taken together. If it expired again in
        // between, ask again.
        var fields: [String: String] = [:]
        var remaining: UInt64 = 0
        var interval: UInt64 = 0
        // A one-shot timer caught at its very expiry shows no time left and
        // no tick until the hrtimer callback has run a moment later: read
        // again after a pause rather than save it as never armed.
        for attempt in 0..<5 {
            _ = try TimerFDOps.get(local)
            fields = try FdInfo.read(pid: p.pid, fd: p.fd).fields
            remaining = try duration(fields["it_value"], file: file, field: "it_value")
            interval = try duration(fields["it_interval"], file: file, field: "it_interval")
            let expiring = remaining == 0 && fields["ticks"] == "0" && attempt == 0
            if expiring {
                usleep(2_000)
                continue
            }
            if remaining != 0 || interval == 0 { break }
        }
        guard let clock = fields["clockid"].flatMap({ Int32($0) }) else {
            throw ProcParseError(file: file, line: fields["clockid"] ?? "", reason: "missing or bad clockid")
        }
        guard let ticks = fields["ticks"].flatMap({ UInt64($0) }) else {
            throw ProcParseError(file: file, line: fields["ticks"] ?? "", reason: "missing or bad ticks")
        }
        guard let flags = fields["settime flags"].flatMap({ Int32($0, radix: 8) }) else {
            throw ProcParseError(file: file, line: fields["settime flags"] ?? "", reason: "missing or bad settime flags")
        }
        image.timerfd = TimerFDState(clock: clock, settimeFlags: flags, remainingNanoseconds: remaining,
                                     intervalNanoseconds: interval, ticks: ticks,
                                     clockAtDumpNanoseconds: try TimerFDOps.now(clock: clock))
    }

    /// "(seconds, nanoseconds)" as fdinfo shows a timespec.
    static func duration(_ text: String?, file: String, field: String) throws -> UInt64 {
        let parts = (text ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let seconds = UInt64(parts[0]), let nanoseconds = UInt64(parts[1]), nanoseconds < 1_000_000_000 else {
            throw ProcParseError(file: file, line: text ?? "", reason: "missing or bad \(field)")
        }
        return seconds * 1_000_000_000 + nanoseconds
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = image.timerfd else {
            throw CheckpointError("fd \(image.fd) of pid \(context.pid) is a timerfd without its saved state")
        }
        let fd = try TimerFDOps.create(clock: state.clock, flags: (image.flags & O_NONBLOCK) | O_CLOEXEC)
        do {
            if state.remainingNanoseconds > 0 {
                try TimerFDOps.set(fd, flags: state.settimeFlags,
                                   TimerSetting(value: try firstExpiration(state), interval: state.intervalNanoseconds))
            }
            if state.ticks > 0 {
                try TimerFDOps.setTicks(fd, state.ticks)
            }
        } catch {
            close(fd)
            throw CheckpointError("cannot set the timerfd of fd \(image.fd) of pid \(context.pid) again: \(error)")
        }
        return .local(fd)
    }

    /// The it_value to arm with, relative or absolute as the flags say.
    static func firstExpiration(_ state: TimerFDState) throws -> UInt64 {
        guard state.settimeFlags & absolute != 0 else { return state.remainingNanoseconds }
        if isWallClock(state.clock) {
            return state.clockAtDumpNanoseconds + state.remainingNanoseconds
        }
        return try TimerFDOps.now(clock: state.clock) + state.remainingNanoseconds
    }

    static func isWallClock(_ clock: Int32) -> Bool {
        clock == CLOCK_REALTIME || clock == 8 // CLOCK_REALTIME_ALARM
    }
}
