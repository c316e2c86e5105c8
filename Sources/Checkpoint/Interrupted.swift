import Ptrace

/// The safe points of a dump or restore: where an interruption recorded
/// by `Interruption` ends the operation through its own failure path,
/// which lets the tree go as it was, or takes back what a restore made.
public struct Interrupted: Error, CustomStringConvertible, Sendable {
    public var signal: Int32
    /// What the failure path leaves, for the message.
    public var outcome: String
    public var description: String { "interrupted by \(SignalNames.name(signal)): \(outcome)" }

    static let dumpGivenUp = "the dump was given up: the tree goes on as it was, and no image was kept"
    static let restoreGivenUp = "the restore was given up: every process it had made was killed"

    /// Throws if a SIGINT, SIGTERM or SIGHUP arrived since crtool started
    /// catching them.
    static func check(_ outcome: @autoclosure () -> String) throws {
        if let signal = Interruption.caught { throw Interrupted(signal: signal, outcome: outcome()) }
    }
}
