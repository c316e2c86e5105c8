import Ptrace

/// Finds where a cgroup namespace of the tree's is rooted. A process's
/// cgroups read from crtool's namespace name them from crtool's root;
/// read from a thread of crtool's inside the process's namespace, from
/// that namespace's root. What the first has beyond the second is the
/// root: a container's cgroup, which its processes see as "/".
enum CgroupNamespaceDumper {
    static func roots(id: UInt64, of pid: Int32) throws -> [CgroupMembership] {
        let outside = try CgroupMembership.read(pid: pid)
        let inside = try NamespaceEntry.run(in: .cgroup, of: pid) { try CgroupMembership.read(pid: pid) }
        guard outside.count == inside.count else {
            throw CheckpointError("pid \(pid) changed its cgroups while crtool read them from cgroup:[\(id)]")
        }
        return try zip(outside, inside).map { full, seen in
            guard full.controllers == seen.controllers, let root = root(of: full.path, seen: seen.path) else {
                throw CheckpointError("pid \(pid) is in \(full.hierarchyName) cgroup \(full.path), which its cgroup namespace cgroup:[\(id)] shows as \(seen.path): "
                    + "not below the namespace's root, so crtool cannot tell where the namespace is rooted")
            }
            return CgroupMembership(controllers: full.controllers, path: root)
        }
    }

    /// `full` less its last components that `seen` names; nil when `seen`
    /// climbs out of the root ("/..") or is not the end of `full`.
    static func root(of full: String, seen: String) -> String? {
        if seen == "/" { return full }
        guard !seen.hasPrefix("/.."), full.hasSuffix(seen) else { return nil }
        let root = String(full.dropLast(seen.count))
        if root.isEmpty { return "/" }
        return root.hasSuffix("/") ? nil : root
    }
}
