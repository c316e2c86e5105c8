/// A descriptor of a memfd: which shared-memory object it opens, so that
/// it and every mapping of that object are one file again after a restore
/// (a program writes through one and reads through the other).
public struct MemfdState: Codable, Equatable, Sendable {
    /// SharedMemoryImage.id of the memfd's content.
    public var object: UInt64

    public init(object: UInt64) {
        self.object = object
    }
}
