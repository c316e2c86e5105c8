import Glibc
import Ptrace

/// One kind of open file: how to recognize it, what to save, how to make
/// it again. Each kind lives in its own file under Resources/ with both
/// halves side by side, and is listed once in `FileKinds.all`.
protocol FileKind {
    static var kind: FileDescriptorImage.Kind { get }
    /// Kinds that refer to other descriptors (epoll) restore after them.
    static var phase: Int { get }
    static func recognizes(_ probe: FileProbe) -> Bool
    /// Fills in the kind's own field of `image` (and may refine common fields).
    static func collect(_ image: inout FileDescriptorImage, probe: FileProbe, context: FileDumpContext) throws
    /// Makes the open file description again. Called once per open file
    /// description of the image; other holders get copies of it.
    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile
    /// Called for the first holder once the description `open` made is
    /// at its number in that holder's process.
    static func installed(_ image: FileDescriptorImage, context: FileRestoreContext) throws
    /// Called for every other holder once its copy of the description is
    /// at its number in that holder's process.
    static func joined(_ image: FileDescriptorImage, context: FileRestoreContext) throws
    /// Whether `open` injects calls into the target for this descriptor
    /// (and so needs the descriptors queued before it in place first).
    static func opensInProcess(_ image: FileDescriptorImage) -> Bool
}

extension FileKind {
    static var phase: Int { 0 }
    static func opensInProcess(_ image: FileDescriptorImage) -> Bool { false }
    static func installed(_ image: FileDescriptorImage, context: FileRestoreContext) throws {}
    static func joined(_ image: FileDescriptorImage, context: FileRestoreContext) throws {}
}

/// Where a re-made open file description lives right after it is made.
enum OpenedFile {
    /// A descriptor in crtool's own table, to be installed in the target.
    case local(Int32)
    /// Already a descriptor in the target (opened by injection), made
    /// with close-on-exec as the image has it.
    case remote(Int64)
    /// A path the target opens itself, in the batch with its other
    /// descriptors (DescriptorBatch).
    case inProcess(PathOpen)
}

/// An open(2) for the target to make: the path, open's flags
/// (close-on-exec as the image has it) and where to seek to.
struct PathOpen {
    var path: String
    var flags: Int32
    var position: Int64
}

/// What a dump knows about one descriptor before its kind looks at it.
struct FileProbe {
    var pid: Int32
    var fd: Int32
    /// readlink of /proc/PID/fd/FD
    var link: String
    var mode: UInt32
    var device: UInt64
    var inode: UInt64
    var rdev: UInt64
    /// The file's owner; a socket's is the one who made it.
    var uid: UInt32
    var gid: UInt32
    /// st_size: a regular file's length in bytes.
    var size: Int64
    /// st_mtim: when the file was last written, in nanoseconds since the epoch.
    var modified: Int64
    /// st_nlink: the names the file has; more than none for a file whose
    /// name shows " (deleted)" means it lives on under another.
    var links: UInt64
    var info: FdInfo

    /// From stat(2) of the descriptor's /proc link.
    init(pid: Int32, fd: Int32, link: String, status st: stat, info: FdInfo) {
        self.pid = pid
        self.fd = fd
        self.link = link
        mode = st.st_mode
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        rdev = UInt64(st.st_rdev)
        uid = st.st_uid
        gid = st.st_gid
        size = Int64(st.st_size)
        modified = FileAtPath.nanoseconds(st.st_mtim)
        links = UInt64(st.st_nlink)
        self.info = info
    }

    var fileType: UInt32 { mode & UInt32(S_IFMT) }
}

/// The registry of kinds, in the order they are tried.
enum FileKinds {
    static let all: [FileKind.Type] = [
        // An unlinked queue's name ends in " (deleted)" as a deleted
        // file's does.
        MessageQueues.self,
        MemfdFiles.self,
        DeletedFiles.self,
        PtyMasters.self,
        TunFiles.self,
        PathFiles.self,
        Pipes.self,
        FIFOs.self,
        EventFDs.self,
        PidFDs.self,
        SignalFDs.self,
        TimerFDs.self,
        EpollFiles.self,
        InotifyFiles.self,
        FanotifyFiles.self,
        UnixSockets.self,
        InetSockets.self,
        RawSockets.self,
        NetlinkSockets.self,
        PacketSockets.self,
    ]

    static func handler(for kind: FileDescriptorImage.Kind) -> FileKind.Type? {
        all.first { $0.kind == kind } ?? (PathFiles.handles(kind) ? PathFiles.self : nil)
    }
}
