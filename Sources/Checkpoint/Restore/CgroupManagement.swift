/// `restore --manage-cgroups MODE` (CRIU's name and modes): whether the
/// restore makes the tree's cgroups that are missing here, and on which of
/// them it writes the settings the dump saved (`CgroupImage`).
public enum CgroupManagement: String, CaseIterable, Sendable {
    /// Missing cgroups are made, with their settings; the cgroups that
    /// exist are joined as they are. The default: a tree restored on
    /// another host, or after its service's cgroups went, comes back
    /// under its limits, and a cgroup a runtime made for it keeps the
    /// runtime's.
    case soft
    /// Missing cgroups are made, and every cgroup of the tree's gets its
    /// settings, made or not.
    case full
    /// As `full`, and no cgroup of the tree's may exist beforehand, but a
    /// --cgroup-root given.
    case strict
    /// Nothing is made; the cgroups of the tree's that exist get their
    /// settings.
    case props
    /// Nothing is made or written: a process whose cgroup is missing stays
    /// in crtool's, with a warning, and a cgroup namespace whose root is
    /// missing refuses the restore.
    case none
    /// The image's cgroups are not looked at: every process stays in
    /// crtool's cgroups, and its cgroup namespaces are rooted there.
    case ignore

    var makesMissing: Bool { self == .soft || self == .full || self == .strict }

    /// Whether a cgroup of the tree's gets its settings, `made` by this
    /// restore or found here.
    func writesSettings(made: Bool) -> Bool {
        switch self {
        case .soft: return made
        case .full, .strict, .props: return true
        case .none, .ignore: return false
        }
    }
}
