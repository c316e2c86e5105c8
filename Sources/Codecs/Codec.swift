/// A compression algorithm together with its level.
///
/// Encoded in JSON as its spec string ("zstd:1") so a manifest reads the
/// way the command line is written.
public struct Codec: Codable, Equatable, Sendable, CustomStringConvertible {
    public var kind: CodecKind
    /// Ignored (and kept at 0) for `.none`.
    public var level: Int32

    /// zstd at level 1: fast enough to keep up with process_vm_readv on a
    /// couple of cores.
    public static let `default` = Codec(kind: .zstd)

    /// Levels are not range-checked here: callers building a codec in code
    /// are trusted; user input goes through `init(parsing:)`.
    public init(kind: CodecKind, level: Int32? = nil) {
        self.kind = kind
        self.level = kind == .none ? 0 : (level ?? kind.defaultLevel)
    }

    /// Parses "none", "zlib", "zlib:6", "zstd", "zstd:3".
    public init(parsing spec: String) throws {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0])
        guard let kind = CodecKind(rawValue: name) else {
            let known = CodecKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw CodecError.invalidSpec(spec, reason: "unknown codec \"\(name)\" (known: \(known))")
        }
        guard parts.count == 2 else {
            self.init(kind: kind)
            return
        }
        guard let range = kind.validLevels else {
            throw CodecError.invalidSpec(spec, reason: "codec \(kind.rawValue) takes no level")
        }
        guard let level = Int32(parts[1]), range.contains(level) else {
            throw CodecError.invalidSpec(
                spec, reason: "level \"\(parts[1])\" is not a number in \(range.lowerBound)...\(range.upperBound) for \(kind.rawValue)")
        }
        self.init(kind: kind, level: level)
    }

    public var description: String {
        kind == .none ? kind.rawValue : "\(kind.rawValue):\(level)"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let spec = try container.decode(String.self)
        do {
            try self.init(parsing: spec)
        } catch let error as CodecError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
