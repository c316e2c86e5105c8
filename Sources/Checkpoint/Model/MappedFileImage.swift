/// A file a process maps by path, as it was at the dump. A restore maps
/// the file at that path again, and the process's saved pages (its
/// changed copies, its pointers into the file's code and data) only make
/// sense over the same file: one upgraded or rebuilt since would have the
/// process run code that does not match its memory, which crashes it at
/// best. So a restore checks each file against this first.
public struct MappedFileImage: Codable, Equatable, Sendable {
    public var path: String
    /// Checked for private mappings only: a file mapped shared is the
    /// process's data, which other programs may grow meanwhile.
    public var size: UInt64
    /// Whether a mapping of it is private (copied on write).
    public var mappedPrivately: Bool
    /// The ELF build id (the NT_GNU_BUILD_ID note), in hex: the same
    /// build of a program or library has the same one on any host, where
    /// times and inode numbers differ. Absent for a file without one.
    public var buildID: String?

    public init(path: String, size: UInt64, mappedPrivately: Bool, buildID: String?) {
        self.path = path
        self.size = size
        self.mappedPrivately = mappedPrivately
        self.buildID = buildID
    }
}
