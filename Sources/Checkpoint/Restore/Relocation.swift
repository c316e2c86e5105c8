/// Where on this host a tree goes when not where it was: its cgroups
/// (--cgroup-root) and its root file system (--root), as a runtime
/// restoring a container under a new name gives it both.
public struct Relocation: Equatable, Sendable {
    public var cgroupRoots: [CgroupRootChange] = []
    public var rootDirectory: String?

    public init(cgroupRoots: [CgroupRootChange] = [], rootDirectory: String? = nil) {
        self.cgroupRoots = cgroupRoots
        self.rootDirectory = rootDirectory
    }

    /// Moves what the plan names, before any check of it against this host.
    func apply(to plan: inout RestorePlan) throws {
        if !cgroupRoots.isEmpty {
            plan.givenCgroups = try CgroupRootChange.apply(cgroupRoots, to: &plan, mounts: CgroupPlacement.cgroupMounts())
        }
        try RootDirectoryChange.apply(rootDirectory, to: &plan)
    }
}
