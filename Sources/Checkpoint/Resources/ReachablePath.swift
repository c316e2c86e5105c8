import Ptrace

/// A path of a process's as crtool reaches it at a dump: the path itself
/// in crtool's mount namespace, through /proc/PID/root in one of the
/// process's own, whose mounts crtool's paths do not pass through.
enum ReachablePath {
    static func of(_ path: String, pid: Int32) -> String {
        guard path.hasPrefix("/"), let own = NamespaceCheck.own[.mnt], let theirs = try? NamespaceKind.mnt.id(pid: pid), theirs != own else {
            return path
        }
        return "/proc/\(pid)/root\(path)"
    }
}
