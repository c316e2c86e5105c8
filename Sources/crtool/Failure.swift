import ArgumentParser
import Foundation
import Ptrace

/// Prints an error as one sentence on stderr and exits non-zero, instead
/// of ArgumentParser's usage dump: failures here are about processes and
/// images, not about the command line.
func fail(_ command: String, _ error: Error) -> ExitCode {
    FileHandle.standardError.write("crtool \(command): error: \(error)\n".data(using: .utf8)!)
    return ExitCode(1)
}

/// Runs `body` on a tracer thread of its own, as every command that
/// traces processes must (see TracerThread); its failure is `fail`'s, and
/// goes into `log` too.
func runTraced<T>(_ command: String, log: RunLog? = nil, _ body: @escaping () throws -> T) throws -> T {
    do {
        return try TracerThread.run(body)
    } catch {
        log?.failed(command, error)
        throw fail(command, error)
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
}
