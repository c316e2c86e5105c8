/// Why a codec could not do its work. Decompression errors are expected on
/// damaged or hostile images and must read well in a user-facing message.
public enum CodecError: Error, CustomStringConvertible, Equatable {
    case invalidSpec(String, reason: String)
    case compressionFailed(CodecKind, reason: String)
    case decompressionFailed(CodecKind, reason: String)
    case outputSizeMismatch(CodecKind, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .invalidSpec(spec, reason):
            return "invalid codec \"\(spec)\": \(reason)"
        case let .compressionFailed(kind, reason):
            return "\(kind.rawValue) compression failed: \(reason)"
        case let .decompressionFailed(kind, reason):
            return "\(kind.rawValue) decompression failed: \(reason)"
        case let .outputSizeMismatch(kind, expected, actual):
            return "\(kind.rawValue) decompression produced \(actual) bytes, expected \(expected)"
        }
    }
}
