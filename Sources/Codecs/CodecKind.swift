/// The compression algorithms a page chunk can be stored with.
///
/// The raw values are what manifests and command lines spell, so they must
/// never change once images exist.
public enum CodecKind: String, Codable, Sendable, CaseIterable {
    /// Stored as is: chosen whenever compression would not shrink a chunk.
    case none
    /// Kept for compatibility with tools that only speak deflate; slow on
    /// incompressible pages.
    case zlib
    /// The default: several times faster than zlib at a better ratio.
    case zstd

    /// The levels a user may ask for; `nil` when the codec has no levels.
    public var validLevels: ClosedRange<Int32>? {
        switch self {
        case .none: return nil
        case .zlib: return 1...9
        case .zstd: return 1...19
        }
    }

    /// The level used when none is given: the fastest one, because dumps are
    /// bounded by compression speed while the process is frozen.
    public var defaultLevel: Int32 {
        switch self {
        case .none: return 0
        case .zlib, .zstd: return 1
        }
    }
}
