/// A shared-memory object mapped by processes of the image (MAP_SHARED
/// anonymous memory inherited across fork, a memfd): saved once, in its own
/// page file addressed by offset, and mapped again by every process that
/// had it. Listed in shared-memory.json.
public struct SharedMemoryImage: Codable, Equatable, Sendable {
    /// The object's inode at dump time; VMAImage.sharedMemory refers to it.
    public var id: UInt64
    public var size: UInt64
    /// The name /proc/PID/maps showed ("/dev/zero (deleted)", "/memfd:name (deleted)").
    public var name: String
    public var pagesFile: String

    public static let listFile = "shared-memory.json"

    /// MAP_SHARED | MAP_ANONYMOUS memory, which maps names "/dev/zero (deleted)".
    public var isSharedAnonymous: Bool { name.hasPrefix("/dev/zero") || name.isEmpty }

    /// The memfd name that makes /proc/PID/maps show what it showed before.
    public var memfdName: String {
        var n = Substring(name)
        if n.hasSuffix(" (deleted)") { n = n.dropLast(" (deleted)".count) }
        if n.hasPrefix("/memfd:") { return String(n.dropFirst("/memfd:".count)) }
        if n.hasPrefix("/dev/zero") || n.isEmpty { return "crtool-shared-anonymous" }
        // A file deleted while mapped: its base name.
        return String(n.split(separator: "/").last ?? "crtool-deleted-file")
    }
}
