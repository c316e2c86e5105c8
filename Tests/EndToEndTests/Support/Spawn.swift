import Glibc
import Ptrace

/// Where a spawned process reads from.
enum StandardInput {
    case devNull
    /// Duplicated onto fd 0 in the child; the caller keeps its own copy.
    case descriptor(Int32)
}

/// Starts a process with posix_spawn directly. Foundation.Process is not
/// used because it reaps children on its own, which would race with the
/// tests' waitpid and, worse, with crtool's need for the PID to be free.
///
/// The child gets a clean slate a checkpoint can cope with: default signal
/// dispositions, an empty signal mask, no descriptors beyond 0-2, stdout and
/// stderr appended to files (O_APPEND, so a restored process and anything
/// written after a --leave-running dump never overwrite each other).
func spawnProcess(
    _ executable: String,
    _ arguments: [String],
    stdin: StandardInput = .devNull,
    stdout stdoutPath: String,
    stderr stderrPath: String
) throws -> pid_t {
    var input: Int32?
    if case .descriptor(let fd) = stdin { input = fd }
    do {
        return try CleanSpawn.spawn(executable, arguments, stdin: input, stdout: stdoutPath, stderr: stderrPath)
    } catch let e as SystemError {
        throw HarnessError("cannot start \(executable): \(e)")
    }
}
