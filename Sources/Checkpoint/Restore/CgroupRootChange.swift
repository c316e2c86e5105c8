import Ptrace

/// `restore --cgroup-root [CONTROLLER:]PATH` (CRIU's name): the tree comes
/// back under another cgroup than it was dumped in, as a container restored
/// under a new name or on another host gets a cgroup of its own, or a job
/// moved to another slice. The cgroup the tree was rooted at in a hierarchy
/// becomes PATH there, and every cgroup of the tree's below it the same
/// place below PATH; the tree's cgroups elsewhere are kept.
public struct CgroupRootChange: Equatable, Sendable {
    /// A controller of the hierarchy changed ("memory", "name=systemd"),
    /// "unified" for the v2 hierarchy, or nil for every hierarchy no
    /// other change names.
    public var controller: String?
    /// The cgroup the tree is restored under, from the hierarchy's root.
    public var path: String

    public init(controller: String?, path: String) {
        self.controller = controller
        self.path = path
    }

    /// `[CONTROLLER:]PATH`; PATH absolute, without "." or "..".
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts.last!)
        let controller = parts.count == 2 ? String(parts[0]) : nil
        guard controller.map({ !$0.isEmpty && !$0.contains(",") }) ?? true,
              CgroupMembership(controllers: "", path: path).hasPlainPath else { return nil }
        self.init(controller: controller, path: path)
    }

    var option: String { (controller.map { $0 + ":" } ?? "") + path }

    func names(_ hierarchy: CgroupMembership) -> Bool {
        guard let controller else { return false }
        return controller == "unified" ? hierarchy.controllers.isEmpty
            : hierarchy.controllers.split(separator: ",").contains { $0 == controller }
    }

    /// Moves every cgroup of `plan` (the processes', the cgroup
    /// namespaces' roots, those whose settings were saved, and the cgroup
    /// directories its mount namespaces bind in from `mounts`, the cgroup
    /// file systems here, as runc binds a container's into its
    /// /sys/fs/cgroup) as `changes` say, and
    /// returns the cgroups given, one per hierarchy changed. Refused by
    /// name: a change given twice for one hierarchy, one naming a
    /// controller the tree's root was in no hierarchy of, and any change
    /// for an image without cgroups.
    static func apply(_ changes: [CgroupRootChange], to plan: inout RestorePlan, mounts: [MountEntry]) throws -> [CgroupMembership] {
        guard !changes.isEmpty else { return [] }
        for (i, c) in changes.enumerated() where changes[..<i].contains(where: { $0.controller == c.controller }) {
            throw CheckpointError("--cgroup-root is given twice for \(c.controller.map { "the \($0) hierarchy" } ?? "every hierarchy"); nothing was restored")
        }
        let roots = CgroupImage.treeRoots(root: plan.root, namespaces: plan.namespaces)
        guard !roots.isEmpty else {
            throw CheckpointError("--cgroup-root \(changes[0].option): the image records no cgroup of its processes; nothing was restored")
        }
        for c in changes where c.controller != nil && !roots.contains(where: c.names) {
            throw CheckpointError("--cgroup-root \(c.option): the tree's root was in no hierarchy with the controller \(c.controller!) "
                + "(it was in \(roots.map(\.hierarchyName).joined(separator: ", "))); nothing was restored")
        }
        let fallback = changes.first { $0.controller == nil }
        let moves: [(from: CgroupMembership, to: CgroupMembership)] = roots.compactMap { root in
            guard let change = changes.first(where: { $0.names(root) }) ?? fallback else { return nil }
            return (root, CgroupMembership(controllers: root.controllers, path: change.path))
        }
        func move(_ m: CgroupMembership) -> CgroupMembership {
            guard let (from, to) = moves.first(where: { $0.from.controllers == m.controllers }),
                  let path = MountedPath.moved(m.path, from: from.path, to: to.path) else { return m }
            return CgroupMembership(controllers: m.controllers, path: path)
        }
        for i in plan.processes.indices {
            plan.processes[i].cgroups = plan.processes[i].cgroups?.map(move)
        }
        for i in plan.namespaces.indices {
            plan.namespaces[i].cgroupRoots = plan.namespaces[i].cgroupRoots?.map(move)
        }
        for i in plan.cgroups.indices {
            plan.cgroups[i].path = move(plan.cgroups[i].membership).path
        }
        let directories = moves.compactMap { m in m.from.directory(in: mounts).flatMap { from in m.to.directory(in: mounts).map { (from, $0) } } }
        for b in SavedMount.crtoolsBinds(in: plan.namespaces) {
            let m = plan.namespaces[b.namespace].mounts![b.mount]
            guard m.fsType == "cgroup" || m.fsType == "cgroup2", let source = m.crtoolsSource,
                  let moved = directories.lazy.compactMap({ MountedPath.moved(source, from: $0.0, to: $0.1) }).first else { continue }
            plan.namespaces[b.namespace].mounts![b.mount].bindSource = moved
        }
        return moves.map(\.to)
    }
}
