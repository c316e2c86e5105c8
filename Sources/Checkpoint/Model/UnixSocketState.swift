import Foundation

/// One unix socket descriptor. A connected socket whose peer is in the
/// image carries the peer's state as well, so that whichever of the two
/// the restore reaches first (maybe in another process) makes both ends
/// and fills both queues, exactly once.
public struct UnixSocketState: Codable, Equatable, Sendable {
    /// The socket this descriptor refers to.
    public var socket: UnixSocketEnd
    /// The socket it is connected to, when that one is in the image.
    public var peer: UnixSocketEnd?
    /// The name of the socket outside the image a datagram socket was
    /// connected to (a logging daemon's /dev/log): connected to again.
    public var externalPeer: UnixSocketName?
    /// The stream to the system journal a service's output goes to:
    /// connected to journald again, with the stream's header.
    public var journalStream: JournalStream?

    public init(socket: UnixSocketEnd, peer: UnixSocketEnd? = nil) {
        self.socket = socket
        self.peer = peer
    }
}

/// One unix socket object, as the restore must make it again.
public struct UnixSocketEnd: Codable, Equatable, Sendable {
    public enum SocketType: String, Codable, Sendable {
        case stream, datagram, seqpacket
    }

    /// The socket's inode at dump time: its identity across descriptors and processes.
    public var inode: UInt64
    public var type: SocketType
    public var listening: Bool = false
    public var backlog: UInt32?
    /// Who made a listener listen (its SO_PEERCRED: the process and its
    /// effective user and group at listen(2)), which every client that
    /// connects gets as its peer's credentials.
    public var listenedAs: PeerCredentials?
    /// The name it is bound to, if any.
    public var name: UnixSocketName?
    /// The inode of the connected peer; 0 when the peer was closed already.
    public var peerInode: UInt64?
    /// What a connected socket reports of its peer (SO_PEERCRED): who made
    /// the pair, or the listener and the connector of a connection.
    public var peerCredentials: PeerCredentials?
    /// RCV_SHUTDOWN (1) and SEND_SHUTDOWN (2) as the kernel shows them.
    public var shutdown: UInt8 = 0
    /// Bytes (stream) or messages (datagram, seqpacket) waiting in the
    /// socket's receive queue, in order.
    public var queue: [Data] = []
    /// Bytes of all of `queue`.
    public var queuedBytes: Int { queue.reduce(0) { $0 + $1.count } }
    public var options: [SocketOptionValue] = []
    /// SO_PEEK_OFF (-1: off).
    public var peekOffset: Int32 = -1
    /// Files in flight (SCM_RIGHTS), each list with the queued message it
    /// travels with; absent when none.
    public var inFlight: [QueuedFiles]?

    public init(inode: UInt64, type: SocketType) {
        self.inode = inode
        self.type = type
    }
}

/// A process and the effective user and group it had, as SO_PEERCRED
/// reports them.
public struct PeerCredentials: Codable, Equatable, Sendable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}
