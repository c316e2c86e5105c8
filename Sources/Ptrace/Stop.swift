import Glibc

/// What waitpid reported for a traced thread, decoded once so callers can
/// switch on it instead of testing status bits.
public enum Stop: Equatable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case killed(signal: Int32)
    /// A signal is about to be delivered; the tracer decides whether it is.
    case signalDelivery(signal: Int32)
    /// PTRACE_EVENT_STOP: an interrupt, a group stop, or a new thread's first stop.
    case eventStop(signal: Int32)
    /// fork/clone/exec/exit events, with the event number.
    case event(PtraceEvent, signal: Int32)
    case syscall

    public init(status: Int32) {
        let low = status & 0x7f
        if low == 0 {
            self = .exited(code: (status >> 8) & 0xff)
        } else if (status & 0xff) == 0x7f {
            let sig = (status >> 8) & 0xff
            let event = (status >> 16) & 0xffff
            if event == 0 {
                self = sig == (SIGTRAP | 0x80) ? .syscall : .signalDelivery(signal: sig)
            } else if event == PtraceEvent.stop.rawValue {
                self = .eventStop(signal: sig)
            } else if let e = PtraceEvent(rawValue: event) {
                self = .event(e, signal: sig)
            } else {
                self = .signalDelivery(signal: sig)
            }
        } else {
            self = .killed(signal: low)
        }
    }

    public var isGone: Bool {
        switch self {
        case .exited, .killed: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .killed(let sig): return "killed by \(SignalNames.name(sig))"
        case .signalDelivery(let sig): return "stopped to receive \(SignalNames.name(sig))"
        case .eventStop(let sig): return "in a ptrace stop (\(SignalNames.name(sig)))"
        case .event(let e, _): return "stopped at ptrace event \(e)"
        case .syscall: return "stopped at a system call"
        }
    }
}

public enum PtraceEvent: Int32, Sendable {
    case fork = 1, vfork = 2, clone = 3, exec = 4, vforkDone = 5, exit = 6, seccomp = 7, stop = 128
}

public enum SignalNames {
    static let names = ["", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                        "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
                        "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
                        "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"]
    public static func name(_ sig: Int32) -> String {
        if sig > 0 && Int(sig) < names.count { return names[Int(sig)] }
        if sig >= 32 && sig <= 64 { return "SIGRT\(sig - 32)" }
        return "signal \(sig)"
    }
}
