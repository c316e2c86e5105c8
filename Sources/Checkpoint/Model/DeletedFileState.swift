import Foundation

/// A regular file that was deleted while the process held it open: its
/// bytes are saved, since no path leads to them any more.
public struct DeletedFileState: Codable, Equatable, Sendable {
    public var mode: UInt32
    public var content: Data
}
