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
    /// Where the devpts instance the pty is in is mounted in its holder's
    /// mount namespace, when that is one of the namespace's own (a
    /// container's /dev/pts); nil for crtool's /dev/pts.
    public var devpts: String?

    public init(index: Int32, attributes: Data, windowSize: Data, devpts: String? = nil) {
        self.index = index
        self.attributes = attributes
        self.windowSize = windowSize
        self.devpts = devpts
    }
}
