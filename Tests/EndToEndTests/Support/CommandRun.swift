import Glibc

/// What a finished command left behind.
struct CommandResult: CustomStringConvertible {
    let commandLine: String
    let status: ExitStatus
    let stdout: String
    let stderr: String

    var succeeded: Bool { status.succeeded }

    var stdoutLines: [String] {
        stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    var description: String {
        "`\(commandLine)` ended with \(status)\n--- stdout:\n\(stdout)--- stderr:\n\(stderr)---"
    }
}

/// Runs a command to completion with its output in files (a pipe could
/// fill up and stall it) and a time limit: a command still running at the
/// limit is killed and reaped, and the error says so with what it printed.
func runCommand(
    _ executable: String,
    _ arguments: [String],
    outputPrefix: String,
    timeout: Double
) throws -> CommandResult {
    let outPath = outputPrefix + ".stdout"
    let errPath = outputPrefix + ".stderr"
    let commandLine = ([executable] + arguments).joined(separator: " ")
    let pid = try spawnProcess(executable, arguments, stdout: outPath, stderr: errPath)
    var status = try waitForExit(pid, timeout: timeout)
    let timedOut = status == nil
    if timedOut {
        Glibc.kill(pid, SIGKILL)
        status = try waitForExit(pid, timeout: 10)
    }
    let result = CommandResult(
        commandLine: commandLine,
        status: status ?? .signaled(SIGKILL),
        stdout: readTextFile(outPath) ?? "",
        stderr: readTextFile(errPath) ?? "")
    if timedOut {
        throw HarnessError("still running after \(timeout) s, killed: \(result)")
    }
    return result
}
