import Glibc

/// How a child ended, decoded from waitpid's status word (Swift does not
/// import the W* macros).
enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        self = signal == 0 ? .exited((waitStatus >> 8) & 0xff) : .signaled(signal)
    }

    var succeeded: Bool { self == .exited(0) }

    var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}

/// Waits for a child of this process to end, reaping it so its PID is free
/// again. nil when it is still running after `timeout` seconds.
func waitForExit(_ pid: pid_t, timeout: Double) throws -> ExitStatus? {
    var result: ExitStatus?
    try poll(timeout: timeout, every: 0.005) {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            result = ExitStatus(waitStatus: status)
            return true
        }
        if r < 0 && errno != EINTR {
            throw HarnessError("waitpid(\(pid)): \(errnoText())")
        }
        return false
    }
    return result
}
