import Glibc
import Ptrace

/// The check a restore makes before it creates any process: each saved
/// mount namespace copied from crtool's can be made from it as it is now
/// (one copied from another of the tree's is checked against that one's
/// copy as it is made). The mounts it
/// shared with crtool's must still be there, on the same mounts, and the
/// paths it had bound from crtool's namespace must still lead somewhere
/// (systemd removes a service's PrivateTmp= directories when the service
/// ends, and a killed service has ended).
enum MountNamespaceCheck {
    static func requireMakeable(_ namespaces: [NamespaceImage]) throws {
        let saved = namespaces.filter { $0.kind == .mnt }
        guard !saved.isEmpty else { return }
        let ours = MountTable.parentsFirst(try MountTable.read(pid: getpid()))
        for n in saved where n.copiedFrom == nil {
            let mounts = n.mounts ?? []
            _ = try MountNamespaceMaker.match(mounts, in: ours, namespace: "mnt:[\(n.id)]")
            for m in mounts {
                guard let source = m.crtoolsSource else { continue }
                guard access(source, F_OK) == 0 else {
                    throw CheckpointError("mnt:[\(n.id)] had \(source) of crtool's namespace bound at \(m.mountPoint), "
                        + "and \(source) cannot be found now (\(ErrnoNames.describe(errno))); put it back to restore")
                }
            }
            try requireMountPoints(mounts, namespace: n.id)
        }
    }

    /// A mount made on a directory of crtool's bound in needs its mount
    /// point there: a container's root mounted anew (another overlay of
    /// its image, an emptied mount point) may lack the directories its
    /// runtime made when it started it, and the restore would fail half
    /// way, at that mount. So would a bind of a directory on a file, or
    /// of a file on a directory (a source given another with
    /// --ext-mount-map).
    static func requireMountPoints(_ mounts: [SavedMount], namespace id: UInt64) throws {
        for m in mounts {
            guard let p = m.parent, mounts.indices.contains(p), let source = mounts[p].crtoolsSource else { continue }
            let path = MountedPath.join(source, MountedPath.remainder(of: m.mountPoint, below: mounts[p].mountPoint))
            guard access(path, F_OK) == 0 else {
                throw CheckpointError("mnt:[\(id)] had \(m.fsType) mounted at \(m.mountPoint) on \(source) of crtool's namespace, "
                    + "and \(path) cannot be found now (\(ErrnoNames.describe(errno))): make it, as a runtime makes the mount points "
                    + "of a container's root, to restore; nothing was restored")
            }
            var point = stat(), bound = stat()
            guard let from = m.crtoolsSource, stat(path, &point) == 0, stat(from, &bound) == 0 else { continue }
            let isDirectory = { (s: stat) in s.st_mode & S_IFMT == S_IFDIR }
            guard isDirectory(point) == isDirectory(bound) else {
                throw CheckpointError("mnt:[\(id)] binds \(from) at \(m.mountPoint), and \(from) is \(isDirectory(bound) ? "a directory" : "not a directory") "
                    + "while \(path), where it goes, is \(isDirectory(point) ? "one" : "not"): a directory binds on a directory, a file on a file; nothing was restored")
            }
        }
    }
}
