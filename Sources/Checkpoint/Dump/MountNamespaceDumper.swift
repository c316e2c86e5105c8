import Foundation
import Glibc
import Ptrace

/// Saves a mount namespace of the tree's own as its mounts, each judged
/// against the table of the namespace it was copied from, crtool's or
/// another of the tree's (that of the parent of the first process in it:
/// unshare copies the namespace its caller is in): a namespace starts as
/// a copy, so a mount at the same place showing the same directory of the
/// same device, on the mount the copy put under it, is the copy's
/// (`host`); one showing a directory reached by a path there was bound
/// (`bind`), as are those showing a part of a mount made earlier in the
/// namespace; a tmpfs, proc, sysfs, mqueue or cgroup2 of its own is made
/// anew (`fresh`), with what a tmpfs held. Anything else (a disk mounted
/// only in the namespace, a FUSE file system) has no way back and is
/// refused, naming the mount.
enum MountNamespaceDumper {
    static let freshTypes: Set<String> = ["tmpfs", "ramfs", "proc", "sysfs", "mqueue", "cgroup2", "devpts"]
    /// How many entries a fresh tmpfs may hold.
    static let maximumEntries = 4096

    /// `dataLimit`: the most bytes of files one fresh tmpfs may hold, all
    /// of which the image carries (--ghost-limit). `heldPtys`: the ptys
    /// whose masters the tree holds, by the place of their devpts in the
    /// namespace. `copiedFrom`: the namespace of the tree's it is a copy
    /// of, and a process in that one; nil for a copy of crtool's.
    /// `madeAnew`: the file systems the tree's namespaces saved so far
    /// make anew, by device, with where they are.
    static func dump(id: UInt64, of pid: Int32, copiedFrom: (id: UInt64, pid: Int32)? = nil, dataLimit: UInt64,
                     heldPtys: [String: Set<Int32>] = [:], madeAnew: inout [String: String]) throws -> [SavedMount] {
        let theirs = MountTable.parentsFirst(try MountTable.read(pid: pid))
        let base = copiedFrom.map { CopiedNamespace(name: "mnt:[\($0.id)]", root: "/proc/\($0.pid)/root") } ?? .crtools
        let crtools = MountTable.parentsFirst(try MountTable.read(pid: getpid()))
        let ours = copiedFrom == nil ? crtools : MountTable.parentsFirst(try MountTable.read(pid: copiedFrom!.pid))
        return try saved(theirs, against: ours, of: base, namespace: "mnt:[\(id)] of pid \(pid)", pid: pid, dataLimit: dataLimit,
                         heldPtys: heldPtys, crtoolsGroups: Set(crtools.compactMap(\.peerGroup)), madeAnew: &madeAnew)
    }

    /// The namespace another was copied from: its name for messages, and
    /// where crtool sees its files ("" for crtool's own).
    struct CopiedNamespace {
        static let crtools = CopiedNamespace(name: "crtool's namespace", root: "")
        var name: String
        var root: String
    }

    /// `pid`: a process in the namespace, through whose root crtool looks
    /// at the namespace's files. `ours`: the mounts of `base`.
    /// `crtoolsGroups`: the peer groups of crtool's mounts, of which a
    /// slave is one again through the copy the restore makes.
    static func saved(_ theirs: [MountEntry], against ours: [MountEntry], of base: CopiedNamespace = .crtools, namespace: String, pid: Int32,
                      dataLimit: UInt64, heldPtys: [String: Set<Int32>] = [:], crtoolsGroups: Set<UInt64> = [],
                      madeAnew: inout [String: String]) throws -> [SavedMount] {
        var index: [Int: Int] = [:]
        // Each mount the copy kept, to the mount of `base` it is.
        var kept: [Int: Int] = [:]
        var taken: Set<Int> = []
        var saved: [SavedMount] = []
        for (i, m) in theirs.enumerated() {
            let parent = index[m.parentID]
            guard parent != nil || i == 0 else {
                throw CheckpointError("the mount table of \(namespace) lists \(m.mountPoint) (mount \(m.id)) on a mount it does not list")
            }
            var mount = SavedMount(mountPoint: m.mountPoint, parent: parent, origin: .host, fsType: m.fsType, source: m.source, root: m.root,
                                   flags: m.ownFlags, propagation: m.propagationKinds.map(\.rawValue))
            mount.peerGroup = m.peerGroup
            mount.masterGroup = m.masterGroup.flatMap { crtoolsGroups.contains($0) ? nil : $0 }
            let onTop = !theirs[(i + 1)...].contains { $0.mountPoint == m.mountPoint }
            if let same = ours.first(where: { o in
                !taken.contains(o.id) && o.mountPoint == m.mountPoint && o.major == m.major && o.minor == m.minor && o.root == m.root
                    && o.fsType == m.fsType && (i == 0 ? o.id == ours.first?.id : kept[m.parentID] == o.parentID)
            }) {
                taken.insert(same.id)
                kept[m.id] = same.id
                // A name crtool's namespace gives a namespace (ip netns
                // add binds one at /run/netns/NAME): the host's, not the
                // tree's, and left to the copy the restore makes.
                if m.fsType == MountNamespaceDumper.namespaceFileSystem { continue }
            } else if let source = basePath(to: m, among: ours, of: base, pid: pid, onTop: onTop) {
                mount.origin = .bind
                mount.bindSource = source
            } else if let source = namespacePath(to: m, among: Array(theirs[..<i])) {
                mount.origin = .bind
                mount.bindSource = source
                mount.fromNamespace = true
            } else if freshTypes.contains(m.fsType), m.root == "/" || holdsFiles(m.fsType) {
                // A part of a tmpfs of its own (bubblewrap's root is /newroot
                // of one) is made as a tmpfs holding that part; two parts of
                // one, neither inside the other, would become two.
                if let whole = theirs[..<i].last(where: { $0.major == m.major && $0.minor == m.minor }) {
                    throw CheckpointError("the \(m.fsType) at \(m.mountPoint) in \(namespace) shows \(m.root) of the one whose \(whole.root) is at \(whole.mountPoint); "
                        + "crtool would make them two file systems")
                }
                mount.origin = .fresh
                try requireMadeOnce(m, in: namespace, madeAnew: &madeAnew)
                mount.options = m.superOptions.filter { !["rw", "ro", "seclabel"].contains($0) }.joined(separator: ",")
                mount.readOnlyFileSystem = m.superOptions.contains("ro")
                if holdsFiles(m.fsType) {
                    guard onTop else {
                        throw CheckpointError("the \(m.fsType) at \(m.mountPoint) in \(namespace) has another mount on top of it, so crtool cannot see what it holds")
                    }
                    let inside = theirs.filter { $0.parentID == m.id && $0.mountPoint != m.mountPoint }
                        .map { MountedPath.remainder(of: $0.mountPoint, below: m.mountPoint) }
                    mount.entries = try entries(of: m, mountPoints: Set(inside), namespace: namespace, pid: pid, dataLimit: dataLimit)
                }
                if m.fsType == "devpts" { try requireNoOtherTerminals(in: m, held: heldPtys[m.mountPoint] ?? [], namespace: namespace, pid: pid) }
            } else {
                throw CheckpointError("the mount at \(m.mountPoint) in \(namespace) (\(m.fsType) \(m.source)"
                    + "\(m.root == "/" ? "" : ", directory \(m.root)")) is not one of the mounts of \(base.name), no path of \(base.name) shows it, "
                    + "and a \(m.fsType) is not a file system crtool makes anew (it makes \(freshTypes.sorted().joined(separator: ", ")))")
            }
            guard i > 0 || mount.origin == .host || mount.origin == .bind || holdsFiles(m.fsType) else {
                throw CheckpointError("the root of \(namespace) is \(m.fsType) \(m.source)\(m.root == "/" ? "" : ", directory \(m.root)"), neither the root of \(base.name), "
                    + "a directory of \(base.name), nor a tmpfs of its own; crtool makes a mount namespace again only on one of those")
            }
            index[m.id] = saved.count
            saved.append(mount)
        }
        return saved
    }

    /// The largest value of an extended attribute of a tmpfs's file the
    /// dump saves: the restore stages each in a scratch area of 64 KiB
    /// beside the file's path and the attribute's name.
    static let maximumAttributeValue = 32768
    /// The most extended attributes a restore gives one file.
    static let maximumAttributes = 256
    /// The names an extended attribute may have: one of a namespace the
    /// kernel keeps on a tmpfs, or a POSIX ACL.
    static let attributePrefixes = ["user.", "trusted.", "security.", "system.posix_acl_access", "system.posix_acl_default"]

    /// The file system of /proc/PID/ns files, and of the mounts that
    /// keep namespaces alive under a name.
    static let namespaceFileSystem = "nsfs"

    /// A tmpfs or ramfs: what it holds is saved, so a part of one can be
    /// made again as well as the whole.
    static func holdsFiles(_ fsType: String) -> Bool { fsType == "tmpfs" || fsType == "ramfs" }

    /// A proc shows the PID namespace of the process that mounted it, and
    /// the restore mounts the namespace's from its first process (`maker`,
    /// the first of the tree in it, as the restore orders them). A proc of
    /// another PID namespace (util-linux's unshare --pid --fork
    /// --mount-proc, dumped from unshare) is marked to be mounted by that
    /// namespace's first process, which must be in the tree and in this
    /// mount namespace, with nothing on the proc or in it. The proc's
    /// namespace is that of the pid 1 it lists.
    static func placeProcs(_ mounts: inout [SavedMount], namespace id: UInt64, maker: ProcessImage, processes: [ProcessImage]) throws {
        let wanted = maker.namespaces?.pid ?? NamespaceCheck.own[.pid]
        for (i, m) in mounts.enumerated() where m.origin == .fresh && m.fsType == "proc" {
            let path = "/proc/\(maker.pid)/root\(m.mountPoint == "/" ? "" : m.mountPoint)/1/ns/pid"
            guard let shown = try? NamespaceKind.id(link: ProcFile.link(path, pid: maker.pid), path: path), shown != wanted else { continue }
            let first = processes.first { $0.firstOfPidNamespace == shown }
            guard let first, first.namespaces?.mnt == id, !mounts.contains(where: { $0.parent == i }) else {
                throw CheckpointError("the proc at \(m.mountPoint) in mnt:[\(id)] shows pid:[\(shown)], whose first process (pid 1 in it) "
                    + (first == nil ? "is not in the tree" : first!.namespaces?.mnt != id ? "is in another mount namespace" : "would have to mount it under the mounts on it")
                    + "; crtool mounts such a proc again from that process")
            }
            mounts[i].pidNamespace = shown
        }
    }

    /// What the restore makes or opens from crtool's namespace at a path
    /// of the namespace's (FIFOs, deleted files, inotify watches, fanotify
    /// marks on inodes, unix socket files) must be there too: not in a
    /// tmpfs made anew, and a socket's file at the very path it was bound
    /// to, as bind(2) names the socket by it. Refused here rather than at
    /// the restore.
    static func requireReachable(_ processes: [ProcessImage], namespace id: UInt64, of namespaces: [NamespaceImage]) throws {
        for p in processes {
            for f in p.files {
                var paths: [String] = []
                if f.kind == .fifo || f.kind == .deletedFile { paths.append(f.path) }
                paths += f.inotify?.watches.map(\.path) ?? []
                paths += f.fanotify?.marks.filter { $0.object == .inode }.map(\.path) ?? []
                for path in paths where path.hasPrefix("/") && MountedPath.host(path, inNamespace: id, of: namespaces) == nil {
                    throw CheckpointError("pid \(p.pid) fd \(f.fd) needs \(path), in a file system its mount namespace has of its own; "
                        + "crtool makes or opens it from its own namespace, where that file system is not")
                }
                guard let bound = f.unixSocket?.socket.name?.resolvedPath, bound.hasPrefix("/") else { continue }
                let reached = MountedPath.host(bound, inNamespace: id, of: namespaces)
                guard reached.map(MountedPath.lexical) == MountedPath.lexical(bound) else {
                    throw CheckpointError("pid \(p.pid) fd \(f.fd) is a unix socket bound to \(bound), which its mount namespace has "
                        + (reached.map { "from \($0) of crtool's" } ?? "in a file system of its own")
                        + "; crtool binds sockets from its own namespace, where the socket could not have that name")
                }
            }
        }
    }

    /// A path of `base` that shows what `m` shows: below one of its
    /// mounts (`ours`) of the same device whose directory holds `m`'s, and
    /// checked to be that directory (not hidden by a mount, and, when `m`
    /// is on top at its place, the very inode the namespace shows there).
    private static func basePath(to m: MountEntry, among ours: [MountEntry], of base: CopiedNamespace, pid: Int32, onTop: Bool) -> String? {
        var shown = stat()
        let seen = onTop && stat("/proc/\(pid)/root\(m.mountPoint)", &shown) == 0
        for o in ours.reversed() where o.major == m.major && o.minor == m.minor && MountedPath.contains(o.root, m.root) {
            let path = MountedPath.join(o.mountPoint, MountedPath.remainder(of: m.root, below: o.root))
            var st = stat()
            guard stat(base.root + path, &st) == 0 else { continue }
            let device = DeviceNumber(UInt64(st.st_dev))
            guard device.major == UInt64(m.major), device.minor == UInt64(m.minor) else { continue }
            guard !seen || (st.st_ino == shown.st_ino && st.st_dev == shown.st_dev) else { continue }
            return path
        }
        return nil
    }

    /// A path in the namespace, as the mounts before `m` make it, that
    /// shows what `m` shows: a part of a mount made there bound again.
    private static func namespacePath(to m: MountEntry, among earlier: [MountEntry]) -> String? {
        guard let e = earlier.last(where: { $0.major == m.major && $0.minor == m.minor && MountedPath.contains($0.root, m.root) }) else {
            return nil
        }
        return MountedPath.join(e.mountPoint, MountedPath.remainder(of: m.root, below: e.root))
    }

    /// A tmpfs, ramfs or devpts that another namespace of the tree makes
    /// anew too (two namespaces copied from crtool's, a tmpfs reaching one
    /// from the other by propagation) would come back as two file systems,
    /// each with its own files or terminals. One a namespace has from the
    /// one it was copied from is that one's, and not made again.
    private static func requireMadeOnce(_ m: MountEntry, in namespace: String, madeAnew: inout [String: String]) throws {
        guard holdsFiles(m.fsType) || m.fsType == "devpts" else { return }
        let device = "\(m.major):\(m.minor)"
        let here = "the \(m.fsType) at \(m.mountPoint) in \(namespace)"
        if let other = madeAnew[device] {
            throw CheckpointError("\(here) is \(other) as well; crtool makes a file system of a namespace's own again in each namespace "
                + "that has it, and these two would no longer share their files. A namespace shares one with the namespace it was copied from "
                + "when that is the mount namespace of its first process's parent")
        }
        madeAnew[device] = here
    }

    /// A devpts instance of the namespace's own (a container's /dev/pts) is
    /// made anew, and the tree's pty masters in it again at their numbers
    /// (`PtyMasters`). A terminal whose master is outside the tree (one a
    /// runtime gave the container: runc's terminal, docker -t) would be
    /// missing from it.
    private static func requireNoOtherTerminals(in m: MountEntry, held: Set<Int32>, namespace: String, pid: Int32) throws {
        let open = try FileSystem.list("/proc/\(pid)/root\(m.mountPoint)")
            .filter { $0 != "ptmx" && !(Int32($0).map(held.contains) ?? false) }
            .sorted { $0.count == $1.count ? $0 < $1 : $0.count < $1.count }
        guard open.isEmpty else {
            throw CheckpointError("the devpts at \(m.mountPoint) in \(namespace) has terminals open in it whose masters are not in the tree "
                + "(\(open.map { MountedPath.join(m.mountPoint, $0) }.joined(separator: ", "))), as a terminal a runtime gives a container is; "
                + "crtool makes a devpts of the namespace's own again with only the tree's own ptys in it")
        }
    }

    /// Everything a fresh tmpfs holds, its own root first: directories,
    /// files with their bytes, symbolic links, device nodes, FIFOs, and a
    /// second name of any of them as a hard link to the first. The places
    /// of mounts on it are taken as they look from above, and not
    /// entered. A socket is refused: nothing listens on it any more.
    private static func entries(of m: MountEntry, mountPoints: Set<String>, namespace: String, pid: Int32, dataLimit: UInt64) throws -> [SavedMountEntry] {
        let base = "/proc/\(pid)/root\(m.mountPoint)"
        var found: [SavedMountEntry] = []
        var firstNames: [UInt64: String] = [:]
        var data: UInt64 = 0
        var pending = [""]
        while let relative = pending.popLast() {
            let path = MountedPath.join(base, relative)
            var st = stat()
            guard lstat(path, &st) == 0 else {
                throw CheckpointError("cannot look at \(MountedPath.join(m.mountPoint, relative)) in \(namespace): \(ErrnoNames.describe(errno))")
            }
            let type = st.st_mode & S_IFMT
            var entry = SavedMountEntry(path: relative, kind: .directory, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid)
            let isMountPoint = mountPoints.contains(relative)
            if type != S_IFDIR, st.st_nlink > 1, !isMountPoint {
                if let first = firstNames[UInt64(st.st_ino)] {
                    entry.kind = .hardLink
                    entry.linkTarget = first
                    found.append(entry)
                    continue
                }
                firstNames[UInt64(st.st_ino)] = relative
            }
            switch type {
            case S_IFDIR:
                if !isMountPoint {
                    pending += try FileSystem.list(path).sorted().reversed().map { relative.isEmpty ? $0 : relative + "/" + $0 }
                }
            case S_IFREG where st.st_size == 0 || isMountPoint:
                entry.kind = .emptyFile
            case S_IFREG:
                data += UInt64(st.st_size)
                guard data <= dataLimit else {
                    throw CheckpointError("the \(m.fsType) at \(m.mountPoint) in \(namespace) holds more than the \(dataLimit) bytes of files crtool saves "
                        + "of one (--ghost-limit), counting \(MountedPath.join(m.mountPoint, relative)) of \(st.st_size) bytes")
                }
                entry.kind = .file
                entry.content = try content(of: path, size: Int(st.st_size), pid: pid)
                entry.modifiedNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            case S_IFIFO:
                entry.kind = .fifo
            case S_IFLNK:
                entry.kind = .symlink
                entry.linkTarget = try ProcFile.link(path)
            case S_IFCHR, S_IFBLK:
                entry.kind = type == S_IFCHR ? .characterDevice : .blockDevice
                entry.device = UInt64(st.st_rdev)
            default:
                throw CheckpointError("the \(m.fsType) at \(m.mountPoint) in \(namespace) holds \(MountedPath.join(m.mountPoint, relative)), a socket; "
                    + "crtool makes a \(m.fsType) of the namespace again with its directories, files, links, device nodes and FIFOs, and a socket's "
                    + "file without the socket would name nothing")
            }
            let attributes = try ExtendedAttributes.read(path)
            let file = "\(MountedPath.join(m.mountPoint, relative)) in the \(m.fsType) at \(m.mountPoint) of \(namespace)"
            if attributes.count > maximumAttributes {
                throw CheckpointError("\(file) has \(attributes.count) extended attributes; crtool saves at most \(maximumAttributes) of a file")
            }
            if let (name, value) = attributes.first(where: { $0.value.count > maximumAttributeValue }) {
                throw CheckpointError("\(file) has the extended attribute \(name) of \(value.count) bytes; crtool saves those of at most \(maximumAttributeValue)")
            }
            entry.extendedAttributes = attributes.isEmpty ? nil : attributes.mapValues { Data($0) }
            found.append(entry)
            guard found.count <= maximumEntries else {
                throw CheckpointError("the \(m.fsType) at \(m.mountPoint) in \(namespace) holds more than \(maximumEntries) entries, the most crtool saves of one")
            }
        }
        return found
    }

    /// A file's bytes, read through a descriptor of crtool's (the tree is
    /// frozen, so they are what its processes last wrote).
    private static func content(of path: String, size: Int, pid: Int32) throws -> Data {
        let fd = try LocalFile.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK, pid: pid)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: size)
        try LocalFile.read(fd, into: &bytes, count: size, at: 0)
        return Data(bytes)
    }
}
