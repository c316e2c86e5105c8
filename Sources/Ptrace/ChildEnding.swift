import Glibc

/// How a child crtool started and waits for (a helper, an action script)
/// ended.
public enum ChildEnding: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case killed(signal: Int32)

    public var succeeded: Bool { self == .exited(0) }

    /// The status as a shell gives it: the exit code, or 128 + the signal.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): return code
        case .killed(let sig): return 128 + sig
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .killed(let sig): return "killed by \(SignalNames.name(sig))"
        }
    }

    /// Waits for the child `pid` to end, through interruptions; `what`
    /// names the wait in an error.
    static func waiting(for pid: pid_t, _ what: String) throws -> ChildEnding {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw SystemError(what, pid: pid) }
        }
        return ChildEnding(waitStatus: status)
    }

    /// A status as waitpid gives it for a child that ended.
    public init(waitStatus status: Int32) {
        self = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .killed(signal: status & 0x7f)
    }
}
