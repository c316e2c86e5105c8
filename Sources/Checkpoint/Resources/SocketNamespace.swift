import Glibc
import Ptrace

/// The network namespace a descriptor's socket belongs to, when it is not
/// crtool's: the dump reads the socket from inside it (sock_diag answers
/// only for the asking thread's namespace) and notes it in the image, and
/// the restore makes the socket again in the namespace made for it. A
/// tun queue goes with its device's namespace.
enum SocketNamespace {
    /// Nil for anything but a socket (an O_PATH descriptor of a socket's
    /// file is none), and for a socket of crtool's own.
    static func ofTreesOwn(_ p: FileProbe, context: FileDumpContext) throws -> NetworkNamespace? {
        guard let own = NamespaceCheck.own[.net] else { return nil }
        let namespace: NetworkNamespace
        if p.link.hasPrefix("socket:[") {
            namespace = try NetworkNamespace.of(socket: try context.local(p.fd))
        } else if TunFiles.recognizes(p) {
            // A queue's device may have been moved to another namespace
            // since it was made; one not attached is opened again where
            // its holder is.
            let queue = try context.local(p.fd)
            namespace = try TunDevice.interface(of: queue) != nil ? try NetworkNamespace.of(tunQueue: queue) : try NetworkNamespace(pid: p.pid)
        } else {
            return nil
        }
        return namespace.id == own ? nil : namespace
    }

    /// `body`, run inside `namespace` when there is one.
    static func within<T>(_ namespace: NetworkNamespace?, _ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        return try namespace.entered(body)
    }
}
