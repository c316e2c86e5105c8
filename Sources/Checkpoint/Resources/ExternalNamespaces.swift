import Glibc
import Ptrace

/// Namespaces a dump leaves out (`dump --external net[INODE]:KEY`) and a
/// restore is given in their place (`restore --inherit-fd fd[N]:KEY`),
/// CRIU's forms, as container runtimes use them: the runtime made the
/// container's network namespace (veth to a bridge, a tap of slirp4netns
/// or pasta, addresses, routes, firewall rules), makes another for the
/// restore and hands it over. crtool saves none of it; the tree's
/// sockets are made in the one given. A pod's containers also share its
/// UTS and IPC namespaces with one another: left out, the tree finds the
/// pod's hostname and System V objects as they are now, and the objects
/// it used are made again only where missing (`GivenIPCNamespaces`).
public enum ExternalNamespaces {
    /// The kinds that can be left out: a network namespace holds nothing
    /// the processes must find as they left it but their sockets, which
    /// are theirs; a UTS namespace holds names; an IPC namespace holds
    /// System V objects that outlive their users, which crtool takes
    /// where they still are. The others hold what crtool must make again.
    public static let kinds: [NamespaceKind] = [.net, .uts, .ipc]

    /// One `--external KIND[INODE]:KEY`.
    public struct LeftOut: Equatable, Sendable {
        public var kind: NamespaceKind
        public var id: UInt64
        public var key: String

        /// Parses KIND[INODE]:KEY with KIND a namespace kind's name (net,
        /// uts, ...); nil for anything else, such as a file's name.
        public init?(_ text: String) {
            guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close,
                  let kind = NamespaceKind(rawValue: String(text[..<open])),
                  let id = UInt64(text[text.index(after: open)..<close]) else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else { return nil }
            self.kind = kind
            self.id = id
            key = String(rest.dropFirst())
        }
    }

    /// The key a namespace of the tree's is left out with, if it is.
    static func key(of kind: NamespaceKind, id: UInt64, in leftOut: [LeftOut]) -> String? {
        leftOut.first { $0.kind == kind && $0.id == id }?.key
    }

    /// A dump refuses a namespace named with --external that no process of
    /// the tree has of its own: a misspelt inode would save the namespace
    /// it meant, or refuse it, with no word why; crtool's own namespace
    /// is never saved, so leaving it out means nothing.
    static func requireAllFound(_ leftOut: [LeftOut], saved: [NamespaceImage]) throws {
        let missing = leftOut.filter { l in !saved.contains { $0.kind == l.kind && $0.id == l.id } }
        guard !missing.isEmpty else { return }
        let names = missing.map { "\($0.kind.rawValue)[\($0.id)]:\($0.key)" }.joined(separator: ", ")
        throw CheckpointError("--external \(names): no process of the tree is in such a namespace of its own (as /proc/PID/ns names it; the tree's processes in crtool's namespaces go back into the restoring crtool's)")
    }

    /// The check a restore makes before it creates any process: every
    /// namespace left out at the dump is given, and each descriptor given
    /// for one is open in crtool and is a namespace of that kind. Returns
    /// the descriptor given for each, by the namespace's id at the dump.
    /// `joined`: those `restore --join-ns` gave (`JoinedNamespace`).
    static func requireGiven(_ namespaces: [NamespaceImage], inherited: [ExternalFiles.Inherited],
                             joined: [UInt64: Int32] = [:]) throws -> [UInt64: Int32] {
        var given = joined
        var problems: [String] = []
        for n in namespaces {
            guard let key = n.externalKey, joined[n.id] == nil else { continue }
            let name = "\(n.kind.rawValue):[\(n.id)]"
            guard let g = inherited.first(where: { $0.file == key }) else {
                problems.append("\(name) was left out at the dump (--external \(n.kind.rawValue)[\(n.id)]:\(key)): give the restore the \(n.kind.title) to put its processes in with --inherit-fd fd[N]:\(key)")
                continue
            }
            guard fcntl(g.fd, F_GETFD) >= 0 else {
                problems.append("--inherit-fd fd[\(g.fd)]:\(key): crtool has no fd \(g.fd) open")
                continue
            }
            guard NamespaceKind.of(descriptor: g.fd) == n.kind else {
                let named = n.kind == .net ? "/run/netns/NAME or " : ""
                problems.append("--inherit-fd fd[\(g.fd)]:\(key): fd \(g.fd) is not a \(n.kind.title) (open one as \(named)/proc/PID/ns/\(n.kind.rawValue))")
                continue
            }
            given[n.id] = g.fd
        }
        guard problems.isEmpty else { throw CheckpointError(problems.joined(separator: "; ")) }
        return given
    }

    /// The descriptors given for files, those that give no namespace.
    static func forFiles(_ inherited: [ExternalFiles.Inherited], namespaces: [NamespaceImage]) -> [ExternalFiles.Inherited] {
        let keys = Set(namespaces.compactMap(\.externalKey))
        return inherited.filter { !keys.contains($0.file) }
    }
}
