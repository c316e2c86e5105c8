import XCTest

/// Driving a tmux server from the test, through its socket, as its users'
/// clients do.
extension EndToEndCase {
    /// Runs a tmux command against the server at `socket`; its output.
    @discardableResult
    func tmux(_ socket: String, _ arguments: [String]) throws -> String {
        let result = try runCommand("/usr/bin/tmux", ["-S", socket] + arguments, outputPrefix: scratch.newPath("tmux"), timeout: 30)
        guard result.succeeded else { throw HarnessError("tmux failed: \(result)") }
        return result.stdout
    }

    /// The numbers a job wrote one per line to `path`.
    func counted(_ path: String) -> [Int] {
        (readTextFile(path) ?? "").split(separator: "\n").compactMap { Int($0) }
    }
}
