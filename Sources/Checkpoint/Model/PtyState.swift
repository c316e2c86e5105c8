import Foundation
import Ptrace

/// A pseudo-terminal master: which pty it drives and the terminal's
/// settings and the bytes in flight inside it, so the pair comes back as
/// /dev/pts/N with the same modes and each side reads what it would have.
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
    /// What either side wrote that the other had not read; nil when none.
    public var queues: PtyQueues?
    /// Reads of the master start with a status byte (TIOCPKT); nil when off.
    public var packetMode: Bool?

    public init(index: Int32, attributes: Data, windowSize: Data, devpts: String? = nil, queues: PtyQueues? = nil, packetMode: Bool? = nil) {
        self.index = index
        self.attributes = attributes
        self.windowSize = windowSize
        self.devpts = devpts
        self.queues = queues
        self.packetMode = packetMode
    }
}
