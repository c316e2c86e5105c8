/// /proc/PID/stat: the process relations and the mm layout fields that
/// PR_SET_MM_MAP needs back on restore.
public struct ProcStat: Equatable, Sendable {
    public var pid: Int32
    public var command: String
    public var state: Character
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    /// The controlling terminal's device number (0: none) and its
    /// foreground process group.
    public var terminal: UInt64
    public var terminalForegroundGroup: Int32
    public var flags: UInt64
    public var threads: Int
    /// When the process started, in clock ticks after boot: with the pid,
    /// it tells one process from a later one given the same pid.
    public var startTime: UInt64
    public var startCode: UInt64
    public var endCode: UInt64
    public var startStack: UInt64
    public var startData: UInt64
    public var endData: UInt64
    public var startBrk: UInt64
    public var argStart: UInt64
    public var argEnd: UInt64
    public var envStart: UInt64
    public var envEnd: UInt64
    /// A zombie's status as waitpid would give it (field 52), so the
    /// signal that killed it can be named before its parent reaps it.
    public var exitStatus: Int32

    /// PF_KTHREAD in the flags field: a kernel thread, never dumpable.
    public var isKernelThread: Bool { flags & 0x0020_0000 != 0 }

    /// How a zombie ended, read from its exit status.
    public var ending: ChildEnding? {
        guard state == "Z" || state == "X" else { return nil }
        return ChildEnding(waitStatus: exitStatus)
    }

    public static func read(pid: Int32) throws -> ProcStat {
        try parse(ProcFile.text("/proc/\(pid)/stat", pid: pid), file: "/proc/\(pid)/stat")
    }

    /// The command may hold spaces and parentheses, so fields are counted
    /// from the last ')'.
    public static func parse(_ text: String, file: String = "stat") throws -> ProcStat {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else {
            throw ProcParseError(file: file, line: text, reason: "no command in parentheses")
        }
        guard let pid = Int32(text[text.startIndex..<open].trimmingCharacters(in: " ")) else {
            throw ProcParseError(file: file, line: text, reason: "bad pid")
        }
        let command = String(text[text.index(after: open)..<close])
        let rest = text[text.index(after: close)...].split(omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\n" })
        // rest[0] is field 3 (state).
        func f(_ n: Int) throws -> UInt64 {
            let i = n - 3
            guard i < rest.count else { throw ProcParseError(file: file, line: text, reason: "missing field \(n)") }
            if let v = UInt64(rest[i]) { return v }
            if let v = Int64(rest[i]) { return UInt64(bitPattern: v) }
            throw ProcParseError(file: file, line: text, reason: "field \(n) is not a number")
        }
        guard let state = rest.first?.first else { throw ProcParseError(file: file, line: text, reason: "missing state") }
        return ProcStat(
            pid: pid, command: command, state: state,
            ppid: Int32(truncatingIfNeeded: try f(4)), pgid: Int32(truncatingIfNeeded: try f(5)), sid: Int32(truncatingIfNeeded: try f(6)),
            terminal: try f(7), terminalForegroundGroup: Int32(truncatingIfNeeded: try f(8)),
            flags: try f(9), threads: Int(try f(20)), startTime: try f(22),
            startCode: try f(26), endCode: try f(27), startStack: try f(28),
            startData: try f(45), endData: try f(46), startBrk: try f(47),
            argStart: try f(48), argEnd: try f(49), envStart: try f(50), envEnd: try f(51),
            exitStatus: Int32(truncatingIfNeeded: try f(52)))
    }
}
