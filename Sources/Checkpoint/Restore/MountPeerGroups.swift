import Glibc
import Ptrace

/// Which mounts of the tree's mount namespaces were in one peer group, or
/// a slave of one, so that the restore puts them together again: a mount
/// of a shared group joins the first one made of the group
/// (move_mount's MOVE_MOUNT_SET_GROUP, which also gives it that one's
/// master), and a slave of a group of the tree's joins a mount of that
/// group and is made a slave of it. The first mount of a group made is
/// given a new group of its own, as any shared mount was before. Mount
/// events then spread again between the places they spread between at the
/// dump: into a copy of a namespace from the one it copied, between two
/// binds of one shared directory, across namespaces copied with their
/// propagation unchanged.
///
/// The kernel joins a mount only to a group member of the same file
/// system whose directory holds the mount's, so only such members stand
/// as sources. Namespaces a user namespace of the tree owns are left as
/// they were made: their copy into the user namespace makes every shared
/// mount a slave anyway. A mount without a member to join (its group's
/// others all made after it, or none left in the image) is made as it
/// was before groups were kept: a shared mount in a group of its own, a
/// slave of what its copy had.
final class MountPeerGroups {
    /// A mount of the image: its namespace, its index there, and the
    /// directory of its file system it shows.
    struct Member: Equatable {
        var namespace: UInt64
        var index: Int
        var root: String
    }

    enum Step: Equatable {
        /// Made as saved, as before groups were kept.
        case asSaved
        /// Joins the group of the first source that can be reached.
        case join([Member])
        /// Joins the group of a source, then becomes its slave, and then,
        /// when `shared`, the first of a group of its own.
        case slave(of: [Member], shared: Bool)
    }

    private var members: [UInt64: [Member]] = [:]
    /// The namespaces made so far, each with a process in it through whose
    /// root crtool reaches their mounts.
    private var madeIn: [UInt64: Int32] = [:]
    private let namespaces: [UInt64: [SavedMount]]

    init(_ saved: [NamespaceImage]) {
        var namespaces: [UInt64: [SavedMount]] = [:]
        for n in saved where n.kind == .mnt && n.owner == nil {
            namespaces[n.id] = n.mounts ?? []
            for (i, m) in (n.mounts ?? []).enumerated() where m.pidNamespace == nil {
                guard let group = m.peerGroup else { continue }
                members[group, default: []].append(Member(namespace: n.id, index: i, root: m.root))
            }
        }
        self.namespaces = namespaces
    }

    /// Whether mount `index` of namespace `id` is put in a group here: it
    /// is then made private first, whatever its copy was.
    func step(for index: Int, of id: UInt64) -> Step {
        guard let m = namespaces[id]?[index], m.pidNamespace == nil else { return .asSaved }
        if let group = m.peerGroup {
            let sources = earlier(in: group, than: index, of: id, holding: m.root)
            if !sources.isEmpty { return .join(sources) }
        }
        if let master = m.masterGroup {
            let sources = earlier(in: master, than: index, of: id, holding: m.root)
            if !sources.isEmpty { return .slave(of: sources, shared: m.peerGroup != nil) }
        }
        return .asSaved
    }

    /// The members of `group` made before mount `index` of `id`, those of
    /// `id` first, whose directory holds `root`.
    private func earlier(in group: UInt64, than index: Int, of id: UInt64, holding root: String) -> [Member] {
        let made = (members[group] ?? []).filter { member in
            MountedPath.contains(member.root, root)
                && (member.namespace == id ? member.index < index : madeIn[member.namespace] != nil)
        }
        return made.filter { $0.namespace == id }.reversed() + made.filter { $0.namespace != id }
    }

    /// Namespace `id` is made, with `pid` in it.
    func made(_ id: UInt64, by pid: Int32) {
        if namespaces[id] != nil { madeIn[id] = pid }
    }

    /// A descriptor of crtool's (O_PATH) of `member`, a mount of another
    /// namespace, opened through the root of the process in it and
    /// checked to be that very mount (its place, file system and
    /// directory in that process's table), or nil when another mount
    /// hides it there.
    func open(_ member: Member) -> Int32? {
        guard let pid = madeIn[member.namespace], let m = namespaces[member.namespace]?[member.index] else { return nil }
        let fd = Glibc.open("/proc/\(pid)/root\(m.mountPoint == "/" ? "" : m.mountPoint)", PathFiles.pathOnly | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard let id = try? FdInfo.read(pid: getpid(), fd: fd).mountID,
              let entry = try? MountTable.read(pid: pid).first(where: { Int32($0.id) == id }),
              entry.mountPoint == m.mountPoint, entry.fsType == m.fsType, entry.root == m.root else {
            close(fd)
            return nil
        }
        return fd
    }
}
