import Ptrace

/// One open file descriptor of a process. What all kinds share is here;
/// what a kind alone needs sits in its own optional field, so the JSON
/// shows only what applies.
public struct FileDescriptorImage: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case regular, directory, characterDevice, terminal, deletedFile, memfd, ptyMaster
        case pipe, fifo
        case eventfd, signalfd, timerfd, epoll, inotify, fanotify, pidfd, messageQueue
        case unixSocket, inetSocket, rawSocket, netlinkSocket, packetSocket
        case tun
    }
    public var fd: Int32
    public var kind: Kind
    /// The /proc/PID/fd link target: a path, or "pipe:[123]" and the like.
    public var path: String
    /// open(2) flags (O_APPEND, O_NONBLOCK, access mode); O_CLOEXEC is in closeOnExec.
    public var flags: Int32
    public var closeOnExec: Bool
    public var position: Int64
    /// For a regular file: its length at the dump, so that the restore can
    /// tell whether bytes before the position have gone since (absent in
    /// images made before it was recorded, and for O_PATH descriptors).
    public var size: Int64?
    /// For a regular file: when it was last written before the dump, in
    /// nanoseconds since the epoch, so that the restore can say it was
    /// written since (absent where `size` is).
    public var modified: Int64?
    /// For devices: the device number the path had at dump time.
    public var device: UInt64?
    /// Descriptors anywhere in the image with the same value share one
    /// open file description (dup, fork, SCM_RIGHTS): offset and flags.
    public var openFile: Int = 0
    /// Identity of the underlying object (pipe, socket): its inode.
    public var inode: UInt64 = 0
    /// Locks held through this descriptor (absent: none).
    public var locks: [FileLockState]?
    /// Who gets its SIGIO or SIGURG (F_SETOWN_EX, F_SETSIG): absent when
    /// nobody does and O_ASYNC is off.
    public var owner: FileOwner?
    /// A listener also held outside the image, taken back from that
    /// process at the restore; the kind's own state is then not saved.
    public var heldOutside: OutsideHolder?
    /// Left out at the dump (`dump --external`, naming its `path`): the
    /// restore gives it the descriptor `restore --inherit-fd` names for
    /// that path; the kind's own state is not saved. A restore's plan
    /// marks so every file it is given a descriptor for.
    public var external: Bool?

    public var pipe: PipeState?
    public var deletedFile: DeletedFileState?
    public var memfd: MemfdState?
    public var pty: PtyState?
    public var eventfd: EventFDState?
    public var messageQueue: MessageQueueState?
    public var pidfd: PidFDState?
    public var signalfd: SignalFDState?
    public var timerfd: TimerFDState?
    public var epoll: EpollState?
    public var inotify: InotifyState?
    public var fanotify: FanotifyState?
    public var unixSocket: UnixSocketState?
    public var inetSocket: InetSocketState?
    public var rawSocket: RawSocketState?
    public var netlinkSocket: NetlinkSocketState?
    public var packetSocket: PacketSocketState?
    public var tunFile: TunFileState?
    /// A socket's owner when not root: who made it, as the kernel keeps
    /// it for stat, /proc/net's uid column and firewall owner matches.
    public var socketOwner: SocketOwner?
    /// A socket's network namespace when it is one of the tree's own
    /// (listed in namespaces.json), not crtool's: the socket belongs to
    /// the namespace it was made in, which need not be its holder's. For
    /// a tun queue, its device's namespace.
    public var networkNamespace: UInt64?

    public init(fd: Int32, kind: Kind, path: String, flags: Int32, closeOnExec: Bool, position: Int64, device: UInt64? = nil) {
        self.fd = fd
        self.kind = kind
        self.path = path
        self.flags = flags
        self.closeOnExec = closeOnExec
        self.position = position
        self.device = device
    }
}
