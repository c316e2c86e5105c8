/// Why a dump or restore could not be done, in words a user can act on.
/// Lower-level errors (SystemError, ImageError) pass through unchanged.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
