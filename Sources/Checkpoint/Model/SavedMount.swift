import Foundation

/// One mount of a mount namespace of the tree's own (unshare -m,
/// systemd's PrivateTmp=, ProtectSystem=, ProtectHome=), listed each after
/// the mount it sits on, in the order the restore makes them. A namespace
/// starts as a copy of crtool's, so each mount is either one of crtool's
/// the copy kept, something of crtool's namespace mounted again
/// (mount --bind), or a file system made for the namespace alone.
public struct SavedMount: Codable, Equatable, Sendable {
    public enum Origin: String, Codable, Sendable {
        /// crtool's mount at the same place, as the copy brought it.
        case host
        /// A directory or file mounted here again from elsewhere.
        case bind
        /// A file system of its own, made anew: tmpfs, ramfs, proc,
        /// sysfs, mqueue, cgroup2.
        case fresh
    }

    public var mountPoint: String
    /// The index of the mount this one sits on, nil for the namespace's root.
    public var parent: Int?
    public var origin: Origin
    public var fsType: String
    /// What was mounted, as mountinfo names it ("tmpfs", "/dev/vda").
    public var source: String
    /// The directory of the file system the mount shows.
    public var root: String
    /// A bind mount's path: in crtool's namespace, or, with
    /// `fromNamespace`, in this one as the mounts before it made it.
    public var bindSource: String?
    public var fromNamespace: Bool?
    /// The key a bind of crtool's was left out with at the dump
    /// (`dump --external mnt[MOUNTPOINT]:KEY`): the restore must be given
    /// its place (`--ext-mount-map KEY:PATH`).
    public var externalKey: String?
    /// A fresh file system's own options, as mount(2) takes them
    /// ("size=1024k,mode=700"), and whether it is read-only as a whole.
    public var options: String?
    public var readOnlyFileSystem: Bool?
    /// The mount's own flags (MountFlag raw values).
    public var flags: [String]
    /// How mount events spread (MountPropagation raw values); empty for a
    /// private mount.
    public var propagation: [String]
    /// The peer group a shared mount was in, and, for a slave, the group
    /// it received from when that was a group of the tree's namespaces
    /// alone (a slave of crtool's mounts is one again through the copy
    /// the restore makes of them): the dump's numbers, which only tell
    /// which mounts of the image were in one group. Nil in images made
    /// before they were kept.
    public var peerGroup: UInt64?
    public var masterGroup: UInt64?
    /// What a fresh tmpfs or ramfs held, all of which the restore makes.
    public var entries: [SavedMountEntry]?
    /// A proc of a PID namespace of the tree other than that of the
    /// process the restore makes the mount namespace in (unshare --pid
    /// --fork --mount-proc: unshare made the mount namespace, its child
    /// mounted the proc): mounted by the PID namespace's first process,
    /// which shows it, once that exists. Nothing sits on it or in it.
    public var pidNamespace: UInt64?

    public init(mountPoint: String, parent: Int?, origin: Origin, fsType: String, source: String, root: String,
                flags: [String], propagation: [String]) {
        self.mountPoint = mountPoint
        self.parent = parent
        self.origin = origin
        self.fsType = fsType
        self.source = source
        self.root = root
        self.flags = flags
        self.propagation = propagation
    }

    /// The path of crtool's namespace this mount binds, when it binds one
    /// (not a part of the namespace's own mounts): what a restore looks
    /// for on the host, and what --root and --ext-mount-map put elsewhere.
    public var crtoolsSource: String? {
        origin == .bind && fromNamespace != true ? bindSource : nil
    }

    /// Each mount of `namespaces`' mount namespaces that binds a path of
    /// crtool's, the root's own included, by index of namespace and of
    /// mount. A namespace copied from another of the tree's binds paths of
    /// that one.
    public static func crtoolsBinds(in namespaces: [NamespaceImage]) -> [(namespace: Int, mount: Int)] {
        namespaces.indices.filter { namespaces[$0].kind == .mnt && namespaces[$0].copiedFrom == nil }.flatMap { n in
            (namespaces[n].mounts ?? []).indices.filter { namespaces[n].mounts![$0].crtoolsSource != nil }.map { (n, $0) }
        }
    }
}

/// A mount's own flags, as mountinfo spells them.
public enum MountFlag: String, CaseIterable, Sendable {
    case readOnly = "ro"
    case noSuid = "nosuid"
    case noDev = "nodev"
    case noExec = "noexec"
    case noAtime = "noatime"
    case noDirAtime = "nodiratime"
    case relatime = "relatime"
    case noSymFollow = "nosymfollow"
}

/// How mount events reach a mount and leave it.
public enum MountPropagation: String, CaseIterable, Sendable {
    /// In a peer group: mounts under it appear under its peers.
    case shared
    /// Receives the mounts of a group it is not in.
    case slave
    case unbindable
}

/// One thing a fresh tmpfs or ramfs held: a directory, a file (empty, as
/// the skeletons built for files bound on top are, or with its bytes), a
/// symbolic link, a device node, a FIFO, or another name of an earlier
/// entry. Its path is below the mount, without a leading slash.
public struct SavedMountEntry: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case directory, emptyFile, file, symlink, characterDevice, blockDevice, fifo
        /// A hard link: `linkTarget` is the path of the earlier entry it
        /// names, below the same mount.
        case hardLink
    }

    public var path: String
    public var kind: Kind
    /// Permission bits, with set-id and sticky bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var linkTarget: String?
    public var device: UInt64?
    /// A file's bytes; the restore leaves the runs of zero pages in them
    /// as holes.
    public var content: Data?
    /// A file's last modification (st_mtim), in nanoseconds since the
    /// epoch: build tools and caches judge files by it.
    public var modifiedNanoseconds: Int64?
    /// Its extended attributes by name (user.*, trusted.*, security.*,
    /// and its POSIX ACLs as system.posix_acl_access and _default): the
    /// origin a browser noted of a download, a capability a program was
    /// given, who else may read it. Nil when it has none; a hard link has
    /// those of the name it shares.
    public var extendedAttributes: [String: Data]?

    public init(path: String, kind: Kind, mode: UInt32, uid: UInt32, gid: UInt32, linkTarget: String? = nil, device: UInt64? = nil) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.linkTarget = linkTarget
        self.device = device
    }
}
