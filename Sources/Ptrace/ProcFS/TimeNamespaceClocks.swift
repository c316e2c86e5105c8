import Glibc

/// The two clocks a time namespace moves, CLOCK_MONOTONIC and
/// CLOCK_BOOTTIME, in nanoseconds: as a namespace's processes read them,
/// or as the offsets it adds to the host's (/proc/PID/timens_offsets).
/// CLOCK_REALTIME is the same in every time namespace.
public struct TimeNamespaceClocks: Codable, Equatable, Sendable {
    public var monotonic: Int64
    public var boottime: Int64

    public init(monotonic: Int64, boottime: Int64) {
        self.monotonic = monotonic
        self.boottime = boottime
    }

    /// The most a saved reading may be, about 146 years: an offset made
    /// from it stays far inside what the kernel takes.
    public static let greatest: Int64 = Int64.max / 2

    /// The host's clocks now, as crtool's namespace reads them.
    public static func host() throws -> TimeNamespaceClocks {
        TimeNamespaceClocks(monotonic: Int64(try TimerFDOps.now(clock: CLOCK_MONOTONIC)),
                            boottime: Int64(try TimerFDOps.now(clock: CLOCK_BOOTTIME)))
    }

    public static func + (a: TimeNamespaceClocks, b: TimeNamespaceClocks) -> TimeNamespaceClocks {
        TimeNamespaceClocks(monotonic: a.monotonic + b.monotonic, boottime: a.boottime + b.boottime)
    }

    public static func - (a: TimeNamespaceClocks, b: TimeNamespaceClocks) -> TimeNamespaceClocks {
        TimeNamespaceClocks(monotonic: a.monotonic - b.monotonic, boottime: a.boottime - b.boottime)
    }

    /// The offsets of the time namespace `pid`'s children are born in,
    /// which is its own unless it made one for them.
    public static func offsets(pid: Int32) throws -> TimeNamespaceClocks {
        let path = "/proc/\(pid)/timens_offsets"
        return try parseOffsets(try ProcFile.text(path, pid: pid), file: path)
    }

    /// "monotonic 86400 0\nboottime -2 500000000\n": seconds, and
    /// nanoseconds from 0 to 999999999 on top of them.
    public static func parseOffsets(_ text: String, file: String) throws -> TimeNamespaceClocks {
        var found: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 3, let seconds = Int64(fields[1]), let nanoseconds = Int64(fields[2]),
                  (0..<1_000_000_000).contains(nanoseconds), abs(seconds) < Int64.max / 2_000_000_000 else {
                throw ProcParseError(file: file, line: String(line), reason: "not a clock's name, seconds and nanoseconds")
            }
            found[String(fields[0])] = seconds * 1_000_000_000 + nanoseconds
        }
        guard let monotonic = found["monotonic"], let boottime = found["boottime"] else {
            throw ProcParseError(file: file, line: text, reason: "no monotonic or no boottime offset")
        }
        return TimeNamespaceClocks(monotonic: monotonic, boottime: boottime)
    }

    /// As /proc/PID/timens_offsets takes them: seconds rounded down, so
    /// that the nanoseconds are never negative.
    public var offsetsText: String {
        func line(_ name: String, _ value: Int64) -> String {
            let (seconds, rest) = value.quotientAndRemainder(dividingBy: 1_000_000_000)
            return rest < 0 ? "\(name) \(seconds - 1) \(rest + 1_000_000_000)\n" : "\(name) \(seconds) \(rest)\n"
        }
        return line("monotonic", monotonic) + line("boottime", boottime)
    }

    /// Gives the time namespace `pid` made for its children (unshare)
    /// these offsets. The kernel takes them only until a process enters
    /// the namespace.
    public func setOffsets(pid: Int32) throws {
        try LocalFile.writeControl(offsetsText, to: "/proc/\(pid)/timens_offsets", pid: pid)
    }
}
