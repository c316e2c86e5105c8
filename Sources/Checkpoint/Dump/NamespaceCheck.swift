import Ptrace

/// crtool restores processes into its own namespaces. A process that
/// lives in namespaces of its own would come back in the wrong ones, so
/// the dump refuses it, naming the namespace.
enum NamespaceCheck {
    static let kinds = ["user", "pid", "mnt", "net", "ipc", "uts", "cgroup", "time"]

    static func requireSame(pid: Int32) throws {
        for kind in kinds {
            guard let mine = try? ProcFile.link("/proc/self/ns/\(kind)"),
                  let theirs = try? ProcFile.link("/proc/\(pid)/ns/\(kind)") else { continue }
            if mine != theirs {
                let name = kind == "mnt" ? "mount" : kind == "uts" ? "UTS" : kind == "ipc" ? "IPC" : kind
                throw CheckpointError("pid \(pid) runs in its own \(name) namespace (\(theirs), crtool is in \(mine)); crtool cannot checkpoint processes in other namespaces yet")
            }
        }
    }
}
