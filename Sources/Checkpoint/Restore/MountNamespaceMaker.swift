import Glibc
import Ptrace

/// Makes a saved mount namespace's mounts in the namespace a restored
/// process has just made with unshare, a copy of crtool's or of the
/// tree's namespace it was copied from (`NamespaceImage.copiedFrom`), by system calls
/// injected into that process: every mount becomes a slave first, so that
/// nothing done here reaches crtool's namespace; the sources of bind
/// mounts from crtool's namespace are taken (open_tree) while the copy
/// still shows them; the copy's mounts the saved namespace did not have
/// are unmounted; then the saved mounts are made in order, each with its
/// own flags (mount_setattr on the very mount, even one later hidden), a
/// fresh tmpfs with what it held; last, each mount is given the
/// propagation it had, in the peer group it was in and a slave of the
/// group it was a slave of when those are the tree's (`MountPeerGroups`).
///
/// A namespace whose root is a directory of crtool's bound there
/// (pivot_root into it, as containers do) keeps none of crtool's mounts:
/// its mounts are put together over that directory in the copy, which
/// then becomes the root (pivot_root), and the copy's mounts are
/// detached whole.
enum MountNamespaceMaker {
    private static let atFDCWD = UInt64(bitPattern: -100)
    private static let openTreeClone: UInt64 = 1
    private static let openTreeCloexec = UInt64(O_CLOEXEC)
    private static let moveMountFromEmptyPath: UInt64 = 0x4
    private static let moveMountToEmptyPath: UInt64 = 0x40
    private static let moveMountSetGroup: UInt64 = 0x100
    private static let atEmptyPath: UInt64 = 0x1000
    private static let detach: UInt64 = 2
    private static let recursive: UInt64 = 0x4000
    /// Offsets in the scratch area: two paths and a struct mount_attr.
    private static let first = 0, second = 8192, third = 16384

    /// `id`: the namespace's id at the dump, and `copiedFrom` the one of
    /// the tree's it is a copy of, for messages. `groups`: the peer groups
    /// of the tree's mounts, and how a descriptor of crtool's reaches the
    /// process.
    static func make(_ mounts: [SavedMount], id: UInt64, copiedFrom: UInt64? = nil, in pid: Int32, with inj: RemoteSyscall,
                     groups: (plan: MountPeerGroups, hand: (Int32) throws -> UInt64)? = nil) throws {
        let what = "mnt:[\(id)]"
        try inj.checked("making every mount of the namespace made for \(what) a slave", Syscall.mount,
                        try inj.stage(string: "none", at: first), try inj.stage(string: "/", at: second), 0,
                        recursive | MountPropagationCall.slave, 0)
        let copied = MountTable.parentsFirst(try MountTable.read(pid: pid))
        let kept = try match(mounts, in: copied, namespace: what, copyOf: copiedFrom.map { "mnt:[\($0)] as restored" })
        // Where a mount of the namespace is made before it is the root: a
        // directory of crtool's it was bound from, or for a tmpfs of its
        // own an empty directory crtool makes for the while (the copy
        // sees it, as it sees every file of crtool's namespace).
        let staging = mounts.first?.origin == .fresh ? try StagingDirectory() : nil
        defer { staging?.remove() }
        let newRoot = mounts.first?.origin == .bind ? mounts.first?.bindSource : staging?.path
        func placed(_ path: String) -> String {
            newRoot.map { MountedPath.join($0, MountedPath.remainder(of: path, below: "/")) } ?? path
        }
        var madeFDs: [Int: UInt64] = [:]
        defer { for fd in madeFDs.values { _ = try? inj.call(Syscall.close, fd) } }
        for (i, m) in mounts.enumerated() where m.origin == .bind && m.fromNamespace != true {
            madeFDs[i] = try take(m.bindSource ?? "", for: m, with: inj)
        }
        // A namespace with a root of its own sheds them all at once (enterRoot).
        if newRoot == nil {
            let keptIDs = Set(kept.values.map(\.id))
            // Names of namespaces (ip netns) are the host's as it is now: not saved, not taken away.
            for c in copied.reversed() where !keptIDs.contains(c.id) && c.fsType != MountNamespaceDumper.namespaceFileSystem {
                try inj.checked("unmounting \(c.mountPoint), which \(what) did not have", Syscall.umount2,
                                try inj.stage(string: c.mountPoint, at: first), detach)
            }
        }
        for (i, m) in mounts.enumerated() where m.pidNamespace == nil {
            switch m.origin {
            case .host:
                let now = kept[i]!
                guard Set(now.ownFlags) != Set(m.flags) else { continue }
                let fd = try exact(m.mountPoint, with: inj)
                madeFDs[i] = fd
                try setFlags(m, on: fd, with: inj)
            case .bind:
                let fd = try madeFDs[i] ?? take(placed(m.bindSource ?? ""), for: m, with: inj)
                madeFDs[i] = fd
                try inj.checked("binding \(m.bindSource ?? "") at \(m.mountPoint)", Syscall.moveMount, fd, try inj.stage(string: "", at: first),
                                atFDCWD, try inj.stage(string: placed(m.mountPoint), at: second), moveMountFromEmptyPath)
                try setFlags(m, on: fd, with: inj)
            case .fresh:
                madeFDs[i] = try mountFresh(m, at: placed(m.mountPoint), with: inj)
            }
        }
        if let newRoot { try enterRoot(newRoot, of: what, with: inj) }
        for (i, m) in mounts.enumerated() where m.pidNamespace == nil {
            let wanted = Set(m.propagation.compactMap(MountPropagation.init(rawValue:)))
            let step = groups?.plan.step(for: i, of: id) ?? .asSaved
            // A member of a group is held, for the members after it to join.
            if m.origin == .host, step == .asSaved, m.peerGroup == nil || groups == nil {
                let copy = kept[i]!
                // The first call made every shared or slave mount of the copy a slave.
                let isSlaveNow = !Set(copy.propagationKinds).isDisjoint(with: [.shared, .slave])
                if wanted == (isSlaveNow ? [.slave] : []) { continue }
            }
            let fd = try madeFDs[i] ?? exact(m.mountPoint, with: inj)
            madeFDs[i] = fd
            if let groups, try join(step, mount: m, fd: fd, namespace: id, held: madeFDs, groups: groups, with: inj) { continue }
            try setPropagation(m, on: fd, with: inj)
        }
    }

    /// Puts mount `fd` in the group of the first source of `step` that can
    /// be reached (one of this namespace, held in `held`, or another's,
    /// opened by crtool and handed over), made private first as the kernel
    /// asks, and then, for a slave, makes it a slave of that group, and,
    /// for a shared slave, the first of a group of its own. False when
    /// `step` has no source to reach: the mount is made as saved.
    private static func join(_ step: MountPeerGroups.Step, mount m: SavedMount, fd: UInt64, namespace id: UInt64, held: [Int: UInt64],
                             groups: (plan: MountPeerGroups, hand: (Int32) throws -> UInt64), with inj: RemoteSyscall) throws -> Bool {
        let sources: [MountPeerGroups.Member]
        switch step {
        case .asSaved: return false
        case .join(let s): sources = s
        case .slave(let s, _): sources = s
        }
        for source in sources {
            var from: UInt64
            var handed = false
            if source.namespace == id {
                guard let fd = held[source.index] else { continue }
                from = fd
            } else {
                guard let local = groups.plan.open(source) else { continue }
                defer { close(local) }
                from = try groups.hand(local)
                handed = true
            }
            defer { if handed { _ = try? inj.call(Syscall.close, from) } }
            let what = "the peer group of mount \(source.index) of mnt:[\(source.namespace)]"
            try setPropagation(MountPropagationCall.private, on: fd, what: "making \(m.mountPoint) private to join \(what)", with: inj)
            try inj.checked("putting \(m.mountPoint) in \(what)", Syscall.moveMount, from, try inj.stage(string: "", at: first), fd, try inj.stage(string: "", at: second),
                            moveMountSetGroup | moveMountFromEmptyPath | moveMountToEmptyPath)
            if case .slave(_, let shared) = step {
                try setPropagation(MountPropagationCall.slave, on: fd, what: "making \(m.mountPoint) a slave of \(what)", with: inj)
                if shared { try setPropagation(MountPropagationCall.shared, on: fd, what: "making \(m.mountPoint) shared", with: inj) }
            }
            return true
        }
        return false
    }

    /// A proc left to a PID namespace's first process (`pidNamespace`),
    /// mounted by that process (`inj`) as soon as it exists, with its flags
    /// and propagation: it shows the process's namespace.
    static func makeProc(_ m: SavedMount, with inj: RemoteSyscall) throws {
        let fd = try mountFresh(m, at: m.mountPoint, with: inj)
        defer { _ = try? inj.call(Syscall.close, fd) }
        try setPropagation(m, on: fd, with: inj)
    }

    private static func setPropagation(_ m: SavedMount, on fd: UInt64, with inj: RemoteSyscall) throws {
        for call in MountPropagationCall.calls(for: Set(m.propagation.compactMap(MountPropagation.init(rawValue:)))) {
            try setPropagation(call, on: fd, what: "making \(m.mountPoint) \(MountPropagationCall.name(call))", with: inj)
        }
    }

    private static func setPropagation(_ call: UInt64, on fd: UInt64, what: String, with inj: RemoteSyscall) throws {
        try setAttributes(on: fd, set: 0, clear: 0, propagation: call, what: what, with: inj)
    }

    /// A copy of the proc `m` made anew at its place by `inj`, detached
    /// and with its flags, for `place` in another mount namespace.
    static func detachedFresh(_ m: SavedMount, with inj: RemoteSyscall) throws -> UInt64 {
        let fd = try mountFresh(m, at: m.mountPoint, with: inj)
        defer { _ = try? inj.call(Syscall.close, fd) }
        return try take(m.mountPoint, for: m, with: inj)
    }

    /// Puts the detached mount `fd` (`detachedFresh`, whose copy kept the
    /// flags) at `m`'s place, with its propagation, and closes it.
    static func place(_ m: SavedMount, detached fd: UInt64, with inj: RemoteSyscall) throws {
        defer { _ = try? inj.call(Syscall.close, fd) }
        try inj.checked("putting the \(m.fsType) made for \(m.mountPoint) in place", Syscall.moveMount, fd, try inj.stage(string: "", at: first),
                        atFDCWD, try inj.stage(string: m.mountPoint, at: second), moveMountFromEmptyPath)
        try setPropagation(m, on: fd, with: inj)
    }

    /// A file system made anew at `path` (its place, or where it is put
    /// together before the namespace's root is entered), with its flags
    /// and (a tmpfs) what it held; returns a descriptor of the very mount.
    /// A read-only tmpfs (a container runtime masks directories with one)
    /// is filled first and made read-only after.
    private static func mountFresh(_ m: SavedMount, at path: String, with inj: RemoteSyscall) throws -> UInt64 {
        let filled = m.entries != nil
        let readOnly = m.readOnlyFileSystem == true ? UInt64(MS_RDONLY) : 0
        try inj.checked("mounting a \(m.fsType) at \(m.mountPoint)", Syscall.mount, try inj.stage(string: m.source, at: first),
                        try inj.stage(string: path, at: second), try inj.stage(string: m.fsType, at: third),
                        filled ? 0 : readOnly,
                        (m.options ?? "").isEmpty ? 0 : try inj.stage(string: m.options!, at: third + 256))
        var fd = try exact(path, with: inj)
        // A part of one (m.root) holds the files, and alone stays there.
        let part = MountedPath.join(path, MountedPath.remainder(of: m.root, below: "/"))
        var made = path
        for component in m.root.split(separator: "/") {
            made = MountedPath.join(made, String(component))
            try inj.checked("making the directory \(made)", Syscall.mkdirat, atFDCWD, try inj.stage(string: made, at: first), 0o755)
        }
        try TmpfsContents.make(m.entries ?? [], under: part, with: inj)
        if filled && readOnly != 0 {
            try inj.checked("making the \(m.fsType) at \(m.mountPoint) read-only", Syscall.mount, 0, try inj.stage(string: path, at: second), 0,
                            UInt64(MS_REMOUNT) | readOnly, 0)
        }
        if part != path { fd = try keepOnly(part, of: fd, at: path, for: m, with: inj) }
        try setFlags(m, on: fd, with: inj)
        return fd
    }

    /// Puts a detached copy of `part` of the file system mounted at `path`
    /// in the place of the whole, as the namespace had only that part.
    private static func keepOnly(_ part: String, of whole: UInt64, at path: String, for m: SavedMount, with inj: RemoteSyscall) throws -> UInt64 {
        let copy = try take(part, for: m, with: inj)
        _ = try? inj.call(Syscall.close, whole)
        try inj.checked("unmounting the whole \(m.fsType) made for \(m.mountPoint)", Syscall.umount2, try inj.stage(string: path, at: first), detach)
        try inj.checked("putting \(m.root) of the \(m.fsType) at \(m.mountPoint)", Syscall.moveMount, copy, try inj.stage(string: "", at: first),
                        atFDCWD, try inj.stage(string: path, at: second), moveMountFromEmptyPath)
        return copy
    }

    /// Makes the mounts put together at `newRoot` the namespace's root:
    /// pivot_root(".", ".") stacks the old root on the new one, from where
    /// it is detached with every mount of crtool's copy.
    private static func enterRoot(_ newRoot: String, of what: String, with inj: RemoteSyscall) throws {
        try inj.checked("entering \(newRoot), the root of \(what)", Syscall.chdir, try inj.stage(string: newRoot, at: first))
        let here = try inj.stage(string: ".", at: second)
        try inj.checked("making \(newRoot) the root of \(what) (pivot_root)", Syscall.pivotRoot, here, here)
        try inj.checked("detaching crtool's mounts from \(what)", Syscall.umount2, here, detach)
        try inj.checked("entering the root of \(what)", Syscall.chdir, try inj.stage(string: "/", at: first))
    }

    /// Each saved mount the namespace copied (crtool's, or the namespace
    /// of the tree's `copyOf` names) gave, to the copy's mount it is: at the same place, of the
    /// same file system and directory, on the copy of the mount it sat on.
    static func match(_ mounts: [SavedMount], in copied: [MountEntry], namespace: String,
                      copyOf: String? = nil) throws -> [Int: MountEntry] {
        var kept: [Int: MountEntry] = [:]
        var taken: Set<Int> = []
        for (i, m) in mounts.enumerated() where m.origin == .host {
            guard let c = copied.first(where: { c in
                !taken.contains(c.id) && c.mountPoint == m.mountPoint && c.fsType == m.fsType && c.source == m.source && c.root == m.root
                    && (m.parent.map { kept[$0]?.id == c.parentID } ?? (c.id == copied.first?.id))
            }) else {
                throw CheckpointError("\(namespace) had \(copyOf.map { "the mount of \($0)" } ?? "crtool's mount") at \(m.mountPoint) (\(m.fsType) \(m.source)\(m.root == "/" ? "" : ", directory \(m.root)")) "
                    + "at the dump, and \(copyOf ?? "crtool's namespace") has no such mount there now; mount it again as it was to restore")
            }
            taken.insert(c.id)
            kept[i] = c
        }
        return kept
    }

    /// A detached copy of the mount showing `path`, to be bound elsewhere.
    private static func take(_ path: String, for m: SavedMount, with inj: RemoteSyscall) throws -> UInt64 {
        try inj.checked("taking \(path) to bind at \(m.mountPoint)", Syscall.openTree, atFDCWD, try inj.stage(string: path, at: first),
                        openTreeClone | openTreeCloexec)
    }

    /// The mount on top at `path` now, held so that later mounts on top
    /// of it do not hide it from mount_setattr.
    private static func exact(_ path: String, with inj: RemoteSyscall) throws -> UInt64 {
        try inj.checked("holding the mount at \(path)", Syscall.openTree, atFDCWD, try inj.stage(string: path, at: first), openTreeCloexec)
    }

    private static func setFlags(_ m: SavedMount, on fd: UInt64, with inj: RemoteSyscall) throws {
        let (set, clear) = MountAttributes.of(m.flags)
        try setAttributes(on: fd, set: set, clear: clear, propagation: 0, what: "giving \(m.mountPoint) the flags \(m.flags.joined(separator: ","))", with: inj)
    }

    private static func setAttributes(on fd: UInt64, set: UInt64, clear: UInt64, propagation: UInt64, what: String, with inj: RemoteSyscall) throws {
        let attributes = try inj.stage([UInt8].le(set, clear, propagation, 0), at: third)
        try inj.checked(what, Syscall.mountSetattr, fd, try inj.stage(string: "", at: first), atEmptyPath, attributes, 32)
    }
}
