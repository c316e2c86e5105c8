import Glibc
import Ptrace

/// `restore --root DIR` (CRIU's name): a container whose root was a
/// directory of crtool's bound in and entered with pivot_root comes back
/// with DIR as that root. A runtime restoring a container under a new
/// name, or on another host, mounts its root file system somewhere else
/// (another overlay of the same layers); the files the tree maps and
/// opens are looked for, checked and made there.
enum RootDirectoryChange {
    /// Puts DIR in place of the directory the root process's mount
    /// namespace was rooted at, in every mount of the image bound from
    /// that directory or below it, and finds the tree's paths again.
    /// Refused by name: a DIR that is no directory here, and a tree
    /// whose root is not such a directory (no mount namespace of its
    /// own, crtool's root kept, a tmpfs of its own), for which DIR would
    /// mean nothing.
    static func apply(_ directory: String?, to plan: inout RestorePlan) throws {
        guard let directory else { return }
        var status = stat()
        let found = stat(directory, &status) == 0
        guard found, status.st_mode & S_IFMT == S_IFDIR else {
            throw CheckpointError("--root \(directory): \(found ? "not a directory" : ErrnoNames.describe(errno)); nothing was restored")
        }
        let given = FileSystem.canonical(directory)
        guard let id = plan.root.namespaces?.mnt,
              let root = plan.namespaces.first(where: { $0.kind == .mnt && $0.id == id })?.mounts?.first,
              let old = root.crtoolsSource else {
            throw CheckpointError("--root \(directory): the tree's root was not a directory bound in and entered with pivot_root "
                + "(a container's root file system), so there is no root to put elsewhere; nothing was restored")
        }
        for b in SavedMount.crtoolsBinds(in: plan.namespaces) {
            guard let moved = MountedPath.moved(plan.namespaces[b.namespace].mounts![b.mount].crtoolsSource!, from: old, to: given) else { continue }
            plan.namespaces[b.namespace].mounts![b.mount].bindSource = moved
        }
        plan.hostPaths = HostPaths(namespaces: plan.namespaces, processes: plan.processes)
    }
}
