import Ptrace

/// A process of the tree that had exited but was not yet reaped by its
/// parent: it is made again and made to exit the same way, so the parent
/// still finds it to wait for.
public struct ZombieImage: Codable, Equatable, Sendable {
    public var pid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    public var command: String
    /// The wait status the parent will read (exit code << 8, or the signal).
    public var exitStatus: Int32
    /// In a PID namespace other than crtool's (its parent's): its pid in
    /// crtool's, then in that one.
    public var namespacePids: [Int32]?

    public static let listFile = "zombies.json"
}
