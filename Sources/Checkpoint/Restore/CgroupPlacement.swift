import Foundation
import Ptrace

/// Puts each restored process back in the cgroups it was in: its memory
/// and CPU limits, and what a service manager knows of it, go with the
/// cgroup. A restored process starts in crtool's; it is moved (all its
/// threads, through cgroup.procs) where it was, hierarchy by hierarchy.
/// A cgroup that does not exist here (another host, a service stopped
/// since) is not made, since its limits would not be there either: the
/// process stays in crtool's, with a warning.
struct CgroupPlacement {
    /// crtool's own cgroups, where each restored process starts.
    let own: [CgroupMembership]
    /// The cgroup file systems mounted here.
    let mounts: [MountEntry]

    /// Read once for a whole tree: the mount table alone is some 0.1 ms
    /// to read and parse, which a tree of hundreds paid per process.
    static func here() -> CgroupPlacement {
        CgroupPlacement(own: (try? CgroupMembership.read(pid: getpid())) ?? [],
                        mounts: ((try? MountTable.read(pid: getpid())) ?? []).filter { $0.fsType == "cgroup" || $0.fsType == "cgroup2" })
    }

    func place(_ process: ProcessImage, warnings: inout [String]) {
        guard let wanted = process.cgroups, !wanted.isEmpty else { return }
        for membership in wanted where !own.contains(membership) {
            let name = membership.controllers.isEmpty ? "unified" : membership.controllers
            guard let directory = membership.directory(in: mounts), FileManager.default.fileExists(atPath: directory) else {
                warnings.append("pid \(process.pid) was in \(name) cgroup \(membership.path), which does not exist here; it stays in crtool's")
                continue
            }
            do {
                try LocalFile.writeControl("\(process.pid)\n", to: directory + "/cgroup.procs", pid: process.pid)
            } catch {
                warnings.append("pid \(process.pid) could not join \(name) cgroup \(membership.path): \(error)")
            }
        }
    }
}
