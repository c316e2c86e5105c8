import Glibc
import Ptrace

/// The network namespace a descriptor's socket belongs to, when it is not
/// crtool's: the dump reads the socket from inside it (sock_diag answers
/// only for the asking thread's namespace) and notes it in the image, and
/// the restore makes the socket again in the namespace made for it.
enum SocketNamespace {
    /// Nil for anything but a socket (an O_PATH descriptor of a socket's
    /// file is none), and for a socket of crtool's own.
    static func ofTreesOwn(_ p: FileProbe, context: FileDumpContext) throws -> NetworkNamespace? {
        guard p.link.hasPrefix("socket:["), let own = NamespaceCheck.own[.net] else { return nil }
        let namespace = try NetworkNamespace.of(socket: try context.local(p.fd))
        return namespace.id == own ? nil : namespace
    }

    /// `body`, run inside `namespace` when there is one.
    static func within<T>(_ namespace: NetworkNamespace?, _ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        return try namespace.entered(body)
    }
}
