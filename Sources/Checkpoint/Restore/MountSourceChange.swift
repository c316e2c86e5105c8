import Glibc
import Ptrace

/// `restore --ext-mount-map KEY:PATH` (CRIU's name; also its
/// `--external mnt[KEY]:PATH`): a directory or file of the host bound
/// into the tree's mount namespace comes from PATH instead. A runtime
/// restoring a container under a new name has its volumes and its own
/// /etc/hosts, /etc/resolv.conf and /etc/hostname at new places (Docker's
/// and podman's are under the container's id). KEY is the key the mount
/// was left out with at the dump (`ExternalMounts`), or its mount point as
/// `crtool show` lists it (runc's key is the mount point too): crtool
/// saves every such bind by itself, so none needs to be left out.
public struct MountSourceChange: Equatable, Sendable {
    public var key: String
    public var path: String

    public init(key: String, path: String) {
        self.key = key
        self.path = path
    }

    /// `KEY:PATH` or `mnt[KEY]:PATH`, PATH absolute.
    public init?(_ text: String) {
        guard let (key, path) = Self.pair(text), path.hasPrefix("/") else { return nil }
        self.init(key: key, path: path)
    }

    /// The two halves of `A:B` or `mnt[A]:B`, both non-empty; A, when it
    /// is a path, as mountinfo writes it.
    static func pair(_ text: String) -> (String, String)? {
        let first: Substring, second: Substring
        if text.hasPrefix("mnt[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            first = text[text.index(text.startIndex, offsetBy: 4)..<close]
            second = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.firstIndex(of: ":") else { return nil }
            first = text[..<colon]
            second = text[text.index(after: colon)...]
        }
        guard !first.isEmpty, !second.isEmpty else { return nil }
        return (MountedPath.lexical(String(first)), String(second))
    }

    /// Whether this change is for `mount`: by the key it was left out with,
    /// or by its mount point.
    func names(_ mount: SavedMount) -> Bool {
        mount.externalKey.map { $0 == key } ?? false || mount.mountPoint == key
    }

    /// Binds each mount given from its path, in every mount namespace of
    /// the plan, and finds the tree's paths again. Refused by name, before
    /// anything is made: a mount left out at the dump and not given, a
    /// key no namespace binds from crtool's (the list of those that do
    /// says what may be given), the root (--root gives it), and a path
    /// that is not here. A directory given for a file or the other way
    /// round is `MountNamespaceCheck`'s to refuse.
    static func apply(_ changes: [MountSourceChange], to plan: inout RestorePlan) throws {
        let binds = ExternalMounts.binds(in: plan.namespaces)
        for b in binds {
            let m = plan.namespaces[b.namespace].mounts![b.mount]
            guard let key = m.externalKey, !changes.contains(where: { $0.names(m) }) else { continue }
            throw CheckpointError("mnt:[\(plan.namespaces[b.namespace].id)] had \(m.bindSource ?? "") bound at \(m.mountPoint), left out at the dump as \(key): "
                + "give its place here with --ext-mount-map \(key):PATH; nothing was restored")
        }
        guard !changes.isEmpty else { return }
        for change in changes {
            let option = "--ext-mount-map \(change.key):\(change.path)"
            guard change.key != "/" else {
                throw CheckpointError("\(option): the root is given with --root; nothing was restored")
            }
            guard access(change.path, F_OK) == 0 else {
                throw CheckpointError("\(option): \(change.path) cannot be found (\(ErrnoNames.describe(errno))); nothing was restored")
            }
            let named = binds.filter { change.names(plan.namespaces[$0.namespace].mounts![$0.mount]) }
            guard !named.isEmpty else {
                throw CheckpointError("\(option): no mount namespace of the tree binds a file or directory of crtool's at \(change.key) "
                    + "(\(ExternalMounts.mountPoints(binds, in: plan.namespaces))); nothing was restored")
            }
            let source = FileSystem.canonical(change.path)
            for b in named { plan.namespaces[b.namespace].mounts![b.mount].bindSource = source }
        }
        plan.hostPaths = HostPaths(namespaces: plan.namespaces, processes: plan.processes)
    }
}
