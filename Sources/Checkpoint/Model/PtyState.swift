import Foundation

/// A pseudo-terminal master: which pty it drives and the terminal's
/// settings, so the pair comes back as /dev/pts/N with the same modes.
/// Bytes in flight inside the pty are not saved.
public struct PtyState: Codable, Equatable, Sendable {
    public var index: Int32
    /// struct termios of the pair.
    public var attributes: Data
    /// struct winsize.
    public var windowSize: Data
}
