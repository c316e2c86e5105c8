import ArgumentParser
import Foundation

/// Prints an error as one sentence on stderr and exits non-zero, instead
/// of ArgumentParser's usage dump: failures here are about processes and
/// images, not about the command line.
func fail(_ command: String, _ error: Error) -> ExitCode {
    FileHandle.standardError.write("crtool \(command): error: \(error)\n".data(using: .utf8)!)
    return ExitCode(1)
}

func printError(_ line: String) {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
}
