/// Where on this host a tree goes when not where it was: its cgroups
/// (--cgroup-root), its root file system (--root), what is bound into
/// it (--ext-mount-map), as a runtime restoring a container under a new
/// name gives it all three, and the namespaces it joins (--join-ns).
public struct Relocation: Equatable, Sendable {
    public var cgroupRoots: [CgroupRootChange] = []
    public var rootDirectory: String?
    public var mountSources: [MountSourceChange] = []
    public var joinedNamespaces: [JoinedNamespace] = []

    public init(cgroupRoots: [CgroupRootChange] = [], rootDirectory: String? = nil, mountSources: [MountSourceChange] = [],
                joinedNamespaces: [JoinedNamespace] = []) {
        self.cgroupRoots = cgroupRoots
        self.rootDirectory = rootDirectory
        self.mountSources = mountSources
        self.joinedNamespaces = joinedNamespaces
    }

    /// Moves what the plan names, before any check of it against this host.
    func apply(to plan: inout RestorePlan) throws {
        if !cgroupRoots.isEmpty {
            plan.givenCgroups = try CgroupRootChange.apply(cgroupRoots, to: &plan, mounts: CgroupPlacement.cgroupMounts())
        }
        try RootDirectoryChange.apply(rootDirectory, to: &plan)
        try MountSourceChange.apply(mountSources, to: &plan)
        plan.givenNamespaces = try JoinedNamespace.apply(joinedNamespaces, to: &plan)
    }
}
