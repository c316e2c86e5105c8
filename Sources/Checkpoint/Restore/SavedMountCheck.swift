import Foundation

/// The checks a saved mount namespace passes before a restore makes any
/// of it: the mounts are made by injected calls as root, so a hostile
/// image must not name a mount it could not have had (one above the
/// mount it sits on, a path out of a tmpfs, a type crtool does not make).
enum SavedMountCheck {
    static let maximumMounts = 10_000
    static let maximumPath = 4096

    static func check(_ mounts: [SavedMount], file: String, field: String) throws {
        guard !mounts.isEmpty, mounts.count <= maximumMounts else {
            throw ImageError(file: file, field: field, reason: "\(mounts.count) mounts (a namespace has its root, and at most \(maximumMounts))")
        }
        for (i, m) in mounts.enumerated() {
            func refuse(_ name: String, _ reason: String) -> ImageError {
                ImageError(file: file, field: "\(field)[\(i)].\(name)", reason: reason)
            }
            for (name, value) in [("mountPoint", m.mountPoint), ("root", m.root), ("bindSource", m.bindSource ?? "/")] where !isPath(value) {
                throw refuse(name, "not an absolute path of at most \(maximumPath) bytes without NUL, or with an empty, . or .. part")
            }
            for (name, value) in [("fsType", m.fsType), ("source", m.source), ("options", m.options ?? "")]
            where value.utf8.count > maximumPath || value.utf8.contains(0) {
                throw refuse(name, "more than \(maximumPath) bytes, or a NUL")
            }
            if i == 0 {
                guard m.parent == nil, m.origin == .host || (m.origin == .bind && m.fromNamespace == nil) || (m.origin == .fresh && MountNamespaceDumper.holdsFiles(m.fsType)) else {
                    throw refuse("origin", "the namespace's root is crtool's, a directory of crtool's bound there or a tmpfs of its own, on no other mount")
                }
            } else {
                guard let parent = m.parent, parent >= 0, parent < i else { throw refuse("parent", "not the index of a mount listed before it") }
                guard MountedPath.contains(mounts[parent].mountPoint, m.mountPoint) else {
                    throw refuse("mountPoint", "\(m.mountPoint) is not at or below \(mounts[parent].mountPoint), the mount it sits on")
                }
                guard m.origin != .host || mounts[parent].origin == .host else {
                    throw refuse("origin", "crtool's mount cannot sit on a mount the namespace made")
                }
            }
            guard (m.origin == .bind) == (m.bindSource != nil), m.origin == .bind || m.fromNamespace == nil else {
                throw refuse("bindSource", "only a bind mount has a source path, and it needs one")
            }
            if m.origin == .fresh {
                guard MountNamespaceDumper.freshTypes.contains(m.fsType) else {
                    throw refuse("fsType", "crtool makes no \(m.fsType) anew")
                }
                guard m.root == "/" || MountNamespaceDumper.holdsFiles(m.fsType) else {
                    throw refuse("root", "a \(m.fsType) made anew shows its whole file system; only a part of a tmpfs or ramfs is made")
                }
            } else {
                guard m.options == nil, m.readOnlyFileSystem == nil, m.entries == nil else {
                    throw refuse("options", "only a file system made anew has options or entries")
                }
            }
            if let key = m.externalKey {
                guard m.origin == .bind, m.fromNamespace == nil, i > 0 else {
                    throw refuse("externalKey", "only a file or directory of crtool's bound below the root is left out by a key")
                }
                guard ExternalMounts.isKey(key) else { throw refuse("externalKey", ExternalMounts.keyRule) }
            }
            if m.pidNamespace != nil {
                guard m.origin == .fresh, m.fsType == "proc" else { throw refuse("pidNamespace", "only a proc made anew shows a PID namespace") }
                guard !mounts.contains(where: { $0.parent == i }) else {
                    throw refuse("pidNamespace", "a proc mounted by a PID namespace's first process has nothing on it or in it")
                }
            }
            guard m.entries == nil || MountNamespaceDumper.holdsFiles(m.fsType) else {
                throw refuse("entries", "only a tmpfs or ramfs is made with what it held")
            }
            if let bad = m.flags.first(where: { MountFlag(rawValue: $0) == nil }) { throw refuse("flags", "\(bad) is not a mount flag") }
            if let bad = m.propagation.first(where: { MountPropagation(rawValue: $0) == nil }) {
                throw refuse("propagation", "\(bad) is not a kind of propagation")
            }
            try checkEntries(m.entries ?? [], file: file, field: "\(field)[\(i)].entries")
        }
    }

    private static func checkEntries(_ entries: [SavedMountEntry], file: String, field: String) throws {
        guard entries.count <= MountNamespaceDumper.maximumEntries else {
            throw ImageError(file: file, field: field, reason: "\(entries.count) entries (at most \(MountNamespaceDumper.maximumEntries))")
        }
        var directories: Set<String> = []
        var linkable: Set<String> = []
        for (j, e) in entries.enumerated() {
            func refuse(_ name: String, _ reason: String) -> ImageError {
                ImageError(file: file, field: "\(field)[\(j)].\(name)", reason: reason)
            }
            let parts = e.path.split(separator: "/", omittingEmptySubsequences: false)
            guard e.path.utf8.count <= maximumPath, !e.path.utf8.contains(0),
                  e.path.isEmpty || !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                throw refuse("path", "not a path below the mount (no leading slash, no empty, . or .. part, at most \(maximumPath) bytes)")
            }
            guard (j == 0) == e.path.isEmpty, e.path.isEmpty ? e.kind == .directory : directories.contains(parts.dropLast().joined(separator: "/")) else {
                throw refuse("path", "the mount's own directory comes first, and every entry after the directory it is in")
            }
            guard e.mode <= 0o7777 else { throw refuse("mode", "\(e.mode) is more than permission, set-id and sticky bits") }
            guard (e.kind == .symlink || e.kind == .hardLink) == (e.linkTarget != nil),
                  (e.linkTarget ?? "x").utf8.count <= maximumPath, !(e.linkTarget ?? "x").isEmpty, !(e.linkTarget ?? "").utf8.contains(0) else {
                throw refuse("linkTarget", "a link, and only one, has a target of 1 to \(maximumPath) bytes without NUL")
            }
            guard e.kind != .hardLink || linkable.contains(e.linkTarget ?? "") else {
                throw refuse("linkTarget", "a hard link names an earlier entry of the mount that is neither a directory nor a hard link")
            }
            for name in (e.extendedAttributes ?? [:]).keys.sorted() {
                guard e.kind != .hardLink, name.utf8.count <= 255, !name.utf8.contains(0),
                      MountNamespaceDumper.attributePrefixes.contains(where: { name.hasPrefix($0) && (name.count > $0.count || !$0.hasSuffix(".")) }) else {
                    throw refuse("extendedAttributes.\(name)", "not an extended attribute a file of a tmpfs has (user., trusted., security. and 1 to 255 bytes, or a POSIX ACL; none on a hard link)")
                }
                guard e.extendedAttributes![name]!.count <= MountNamespaceDumper.maximumAttributeValue else {
                    throw refuse("extendedAttributes.\(name)", "\(e.extendedAttributes![name]!.count) bytes (at most \(MountNamespaceDumper.maximumAttributeValue))")
                }
            }
            guard (e.extendedAttributes?.count ?? 0) <= MountNamespaceDumper.maximumAttributes else {
                throw refuse("extendedAttributes", "\(e.extendedAttributes!.count) extended attributes (at most \(MountNamespaceDumper.maximumAttributes))")
            }
            guard (e.kind == .characterDevice || e.kind == .blockDevice) == (e.device != nil) else {
                throw refuse("device", "a device node, and only one, has a device number")
            }
            guard (e.kind == .file) == !(e.content ?? Data()).isEmpty, e.kind == .file || e.content == nil else {
                throw refuse("content", "a file with bytes, and only one, has them")
            }
            guard e.modifiedNanoseconds == nil || (e.kind == .file && e.modifiedNanoseconds! >= 0) else {
                throw refuse("modifiedNanoseconds", "only a file with bytes has a time it was modified, at or after the epoch")
            }
            if e.kind == .directory { directories.insert(e.path) } else if e.kind != .hardLink { linkable.insert(e.path) }
        }
    }

    /// Absolute and canonical, as mountinfo gives paths.
    private static func isPath(_ s: String) -> Bool {
        guard s.hasPrefix("/"), s.utf8.count <= maximumPath, !s.utf8.contains(0) else { return false }
        return s == "/" || !s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }
}
