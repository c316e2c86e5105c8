import Ptrace

/// A cgroup of the tree's, with the settings it had: its limits, weights
/// and CPU and memory node lists, and the controllers it enabled for the
/// cgroups below it. A cgroup the restore makes (one gone since the dump,
/// or below a new --cgroup-root) gets them back, so the tree comes back
/// under the limits it ran under and not under none.
public struct CgroupImage: Codable, Equatable, Sendable {
    /// The hierarchy's controllers as the kernel lists them; empty for the
    /// unified hierarchy.
    public var controllers: String
    /// The cgroup, from the hierarchy's root, as crtool's namespace saw it.
    public var path: String
    /// In the order they were read, which is the order they are written.
    public var settings: [CgroupSetting]

    public static let listFile = "cgroups.json"

    public init(controllers: String, path: String, settings: [CgroupSetting]) {
        self.controllers = controllers
        self.path = path
        self.settings = settings
    }

    public var membership: CgroupMembership { CgroupMembership(controllers: controllers, path: path) }

    /// Orders cgroup paths so that each comes after the cgroups above it,
    /// which are made, and their settings written, first.
    static func parentsFirst(_ a: String, _ b: String) -> Bool {
        (a.split(separator: "/").count, a) < (b.split(separator: "/").count, b)
    }

    /// The cgroups a tree is rooted at, one per hierarchy: the root of the
    /// root process's cgroup namespace when it has one of the tree's own
    /// (a container's, whose processes may have moved below it), otherwise
    /// the root process's own cgroup. The tree's cgroups are those at or
    /// below these.
    static func treeRoots(root: ProcessImage, namespaces: [NamespaceImage]) -> [CgroupMembership] {
        let namespaceRoots = root.namespaces?.cgroup.flatMap { id in
            namespaces.first { $0.kind == .cgroup && $0.id == id }?.cgroupRoots
        } ?? []
        return (root.cgroups ?? []).map { own in
            namespaceRoots.first { $0.controllers == own.controllers } ?? own
        }
    }
}

/// One control file of a cgroup and what it held, without its newline.
public struct CgroupSetting: Codable, Equatable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
