import Glibc
import Ptrace

/// `restore --ext-mount-map MOUNTPOINT:PATH` (CRIU's name; also its
/// `--external mnt[MOUNTPOINT]:PATH`): a directory or file of the host
/// bound into the tree's mount namespace comes from PATH instead. A
/// runtime restoring a container under a new name has its volumes and its
/// own /etc/hosts, /etc/resolv.conf and /etc/hostname at new places
/// (Docker's and podman's are under the container's id). crtool saves
/// every such bind by itself, so the mount point, as `crtool show` lists
/// it, is the key (runc's too).
public struct MountSourceChange: Equatable, Sendable {
    public var mountPoint: String
    public var path: String

    public init(mountPoint: String, path: String) {
        self.mountPoint = mountPoint
        self.path = path
    }

    /// `MOUNTPOINT:PATH`, or `mnt[MOUNTPOINT]:PATH`; both absolute.
    public init?(_ text: String) {
        var rest = Substring(text)
        let bracketed = rest.hasPrefix("mnt[")
        if bracketed {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else { return nil }
            mountPoint = String(rest[rest.index(rest.startIndex, offsetBy: 4)..<close])
            rest = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.firstIndex(of: ":") else { return nil }
            mountPoint = String(rest[..<colon])
            rest = rest[rest.index(after: colon)...]
        }
        path = String(rest)
        guard mountPoint.hasPrefix("/"), path.hasPrefix("/") else { return nil }
        mountPoint = MountedPath.lexical(mountPoint)
    }

    /// Binds each mount point given from its path, in every mount
    /// namespace of the plan, and finds the tree's paths again. Refused
    /// by name: a mount point no namespace binds from crtool's (the list
    /// of those that are says what may be given), the root (--root gives
    /// it), and a path that is not here. A directory given for a file or
    /// the other way round is `MountNamespaceCheck`'s to refuse.
    static func apply(_ changes: [MountSourceChange], to plan: inout RestorePlan) throws {
        guard !changes.isEmpty else { return }
        for change in changes {
            let option = "--ext-mount-map \(change.mountPoint):\(change.path)"
            guard change.mountPoint != "/" else {
                throw CheckpointError("\(option): the root is given with --root; nothing was restored")
            }
            guard access(change.path, F_OK) == 0 else {
                throw CheckpointError("\(option): \(change.path) cannot be found (\(ErrnoNames.describe(errno))); nothing was restored")
            }
            let source = FileSystem.canonical(change.path)
            var found = false
            for n in plan.namespaces.indices where plan.namespaces[n].kind == .mnt {
                for i in (plan.namespaces[n].mounts ?? []).indices {
                    let m = plan.namespaces[n].mounts![i]
                    guard m.origin == .bind, m.fromNamespace != true, m.parent != nil, m.mountPoint == change.mountPoint else { continue }
                    plan.namespaces[n].mounts![i].bindSource = source
                    found = true
                }
            }
            guard found else {
                let bound = Set(plan.namespaces.flatMap { n in
                    (n.mounts ?? []).filter { $0.origin == .bind && $0.fromNamespace != true && $0.parent != nil }.map(\.mountPoint)
                }).sorted()
                throw CheckpointError("\(option): no mount namespace of the tree binds a file or directory of crtool's at \(change.mountPoint) "
                    + "(\(bound.isEmpty ? "it binds none" : "it binds " + bound.joined(separator: ", "))); nothing was restored")
            }
        }
        plan.hostPaths = HostPaths(namespaces: plan.namespaces, processes: plan.processes)
    }
}
