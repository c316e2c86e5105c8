import ArgumentParser
import Checkpoint
import Foundation
import Ptrace

/// Prints an error as one sentence on stderr and exits non-zero, instead
/// of ArgumentParser's usage dump: failures here are about processes and
/// images, not about the command line. An operation given up on a
/// signal exits as the signal's default action would have, 128 + its
/// number, as shells report it.
func fail(_ command: String, _ error: Error) -> ExitCode {
    FileHandle.standardError.write("crtool \(command): error: \(error)\n".data(using: .utf8)!)
    if let interrupted = error as? Interrupted { return ExitCode(128 + interrupted.signal) }
    return ExitCode(1)
}

/// Runs `body` on a tracer thread of its own, as every command that
/// traces processes must (see TracerThread); its failure is `fail`'s, and
/// goes into `log` too. `holdingProcesses`: the body holds a tree that
/// crtool's sudden death would damage, so SIGINT, SIGTERM and SIGHUP are
/// caught meanwhile and the body gives up at its next safe point
/// (`Interruption`).
func runTraced<T>(_ command: String, log: RunLog? = nil, holdingProcesses: Bool = false, _ body: @escaping () throws -> T) throws -> T {
    if holdingProcesses { Interruption.catchSignals() }
    defer { if holdingProcesses { Interruption.stopCatching() } }
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
