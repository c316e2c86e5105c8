/// Where a path of a mount namespace of the tree's own lies in crtool's:
/// what the restore checks before the namespace exists, and where the
/// restored processes will find the same file.
public enum MountedPath {
    /// The same file as crtool reaches it, or nil for a path inside a file
    /// system the restore makes anew (a fresh tmpfs holds no file of the
    /// host). A path under one of crtool's mounts is itself.
    public static func host(_ path: String, in mounts: [SavedMount]) -> String? {
        var depth = 0
        var current = lexical(path)
        while depth < mounts.count + 1 {
            guard let i = innermost(current, in: mounts) else { return current }
            let mount = mounts[i]
            let rest = remainder(of: current, below: mount.mountPoint)
            switch mount.origin {
            case .host: return current
            case .fresh: return nil
            case .bind:
                guard let source = mount.bindSource else { return nil }
                let joined = join(source, rest)
                guard mount.fromNamespace == true else { return joined }
                current = joined
            }
            depth += 1
        }
        return nil
    }

    /// The same as `host(_:in:)` for a path of mount namespace `id` of
    /// `namespaces`, followed through the namespaces it was copied from
    /// (`NamespaceImage.copiedFrom`) to crtool's.
    public static func host(_ path: String, inNamespace id: UInt64, of namespaces: [NamespaceImage]) -> String? {
        var current: String? = path
        var next: UInt64? = id
        var steps = 0
        while let id = next, let now = current {
            guard steps <= namespaces.count, let n = namespaces.first(where: { $0.kind == .mnt && $0.id == id }) else { return nil }
            current = host(now, in: n.mounts ?? [])
            next = n.copiedFrom
            steps += 1
        }
        return current
    }

    /// The mount a path lies in: the deepest mount point above it, the
    /// last made of those at one place (the one on top).
    static func innermost(_ path: String, in mounts: [SavedMount]) -> Int? {
        var best: Int?
        for (i, m) in mounts.enumerated() where contains(m.mountPoint, path) {
            if let b = best, mounts[b].mountPoint.count > m.mountPoint.count { continue }
            best = i
        }
        return best
    }

    /// `path` with repeated slashes and "." components taken out, as
    /// mount points are written: "/tmp//a/./b" is "/tmp/a/b". ".." is
    /// left, as it means what the links before it lead to.
    public static func lexical(_ path: String) -> String {
        guard path.hasPrefix("/") else { return path }
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }

    /// Whether `path` is `directory` or below it.
    public static func contains(_ directory: String, _ path: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }

    /// `path` below `directory`, without a leading slash ("" for itself).
    public static func remainder(of path: String, below directory: String) -> String {
        guard path != directory else { return "" }
        return String(path.dropFirst(directory == "/" ? 1 : directory.count + 1))
    }

    /// Where `path` goes when `from` is put at `to`: nil for a path not
    /// at or below `from`.
    public static func moved(_ path: String, from: String, to: String) -> String? {
        contains(from, path) ? join(to, remainder(of: path, below: from)) : nil
    }

    /// The directory `path` is in ("/" for "/" itself).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    public static func join(_ directory: String, _ rest: String) -> String {
        rest.isEmpty ? directory : (directory.hasSuffix("/") ? directory + rest : directory + "/" + rest)
    }
}
