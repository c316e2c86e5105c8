import Foundation
import Ptrace

/// Saves the settings of the tree's cgroups: each cgroup a process of the
/// tree is in at or below the tree's root in its hierarchy
/// (`CgroupImage.treeRoots`), each cgroup between it and that root, and
/// the roots of the tree's cgroup namespaces. A hierarchy's own root is
/// left out: it has no limits to set. Files this kernel lacks, or that
/// hold nothing, are left out too.
enum CgroupSettingsReader {
    static func read(_ processes: [ProcessImage], namespaces: [NamespaceImage],
                     mounts: [MountEntry] = CgroupPlacement.cgroupMounts()) -> [CgroupImage] {
        guard let root = processes.first else { return [] }
        let named = processes.flatMap { $0.cgroups ?? [] } + namespaces.flatMap { $0.cgroupRoots ?? [] }
        return CgroupImage.treeRoots(root: root, namespaces: namespaces).flatMap { top -> [CgroupImage] in
            var paths = Set<String>()
            for m in named where m.controllers == top.controllers && MountedPath.contains(top.path, m.path) {
                var path = m.path
                while path != "/" && paths.insert(path).inserted && path != top.path {
                    path = MountedPath.parent(of: path)
                }
            }
            // Parents first: a cgroup is made, and its settings written,
            // before the cgroups below it.
            return paths.sorted(by: CgroupImage.parentsFirst).compactMap { path in
                let membership = CgroupMembership(controllers: top.controllers, path: path)
                guard let directory = membership.directory(in: mounts) else { return nil }
                return CgroupImage(controllers: top.controllers, path: path, settings: settings(in: directory, controllers: top.controllers))
            }
        }
    }

    /// The settings `CgroupSettingNames` lists that the cgroup at
    /// `directory` has, in its order, then its huge page limits.
    static func settings(in directory: String, controllers: String) -> [CgroupSetting] {
        let hugePages = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { CgroupSettingNames.isHugePageLimit($0, controllers: controllers) }.sorted()
        return (CgroupSettingNames.names(for: controllers) + hugePages).compactMap { name in
            guard let value = try? ProcFile.value(directory + "/" + name), !value.isEmpty, CgroupSettingNames.isPlainValue(value) else {
                return nil
            }
            return CgroupSetting(name: name, value: value)
        }
    }
}
