import CSupport
import Glibc

/// A network namespace, held open by a descriptor, that the calling
/// thread can step into for a while. A socket belongs to the namespace of
/// the thread that made it, and sock_diag, getifaddrs and the interface
/// ioctls answer for the asking thread's: so crtool reads and makes the
/// sockets of a namespace the tree has of its own from inside it, on the
/// very thread that holds the tracees (setns moves only the calling
/// thread for this kind, and ptrace must be asked from one thread).
public final class NetworkNamespace: @unchecked Sendable {
    /// Its inode number, as /proc/PID/ns/net names it.
    public let id: UInt64
    private let fd: Int32

    private init(fd: Int32, what: String) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = SystemError("fstat \(what)")
            close(fd)
            throw e
        }
        self.fd = fd
        id = UInt64(st.st_ino)
    }

    deinit { close(fd) }

    /// The one `pid` is in.
    public convenience init(pid: Int32) throws {
        let path = NamespaceKind.net.path(pid: pid)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", pid: pid) }
        try self.init(fd: fd, what: path)
    }

    /// The one the socket `socket` (a descriptor of crtool's) belongs to,
    /// which need not be its holder's: a socket made before its process
    /// unshared, or sent to it, stays in the namespace it was made in.
    public static func of(socket: Int32) throws -> NetworkNamespace {
        let fd = ioctl(socket, UInt(Self.socketNamespaceRequest))
        guard fd >= 0 else { throw SystemError("SIOCGSKNS on a socket") }
        return try NetworkNamespace(fd: fd, what: "a socket's network namespace")
    }

    /// The one the device of tun queue `queue` (a descriptor of crtool's)
    /// is in.
    public static func of(tunQueue queue: Int32) throws -> NetworkNamespace {
        try NetworkNamespace(fd: try TunDevice.deviceNamespace(of: queue), what: "a tun device's network namespace")
    }

    /// The id of the one the calling thread is in.
    public static func currentID() throws -> UInt64 {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else { throw SystemError("stat /proc/thread-self/ns/net") }
        return UInt64(st.st_ino)
    }

    /// Runs `body` with the calling thread in this namespace, then takes
    /// the thread back to the one it was in (nested entries unwind in
    /// order). A thread already in it just runs `body`.
    public func entered<T>(_ body: () throws -> T) throws -> T {
        guard try Self.currentID() != id else { return try body() }
        let back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard back >= 0 else { throw SystemError("open /proc/thread-self/ns/net") }
        defer { close(back) }
        guard Self.enter(fd) == 0 else { throw SystemError("setns into network namespace net:[\(id)]") }
        defer {
            // The thread goes on holding tracees and making sockets: left
            // in the wrong namespace it would make them there, unseen.
            if Self.enter(back) != 0 {
                fatalError("cannot take thread back from network namespace net:[\(id)]: \(ErrnoNames.describe(errno))")
            }
        }
        return try body()
    }

    private static func enter(_ fd: Int32) -> Int {
        cr_syscall6(Int(Syscall.setns), UInt64(fd), NamespaceKind.net.cloneFlag, 0, 0, 0, 0)
    }

    /// SIOCGSKNS: a descriptor of the namespace a socket belongs to.
    static let socketNamespaceRequest = 0x894C
}
