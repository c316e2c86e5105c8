import Glibc
import Ptrace

/// Who else holds a pipe or FIFO. A pipe is one object with two ends: if a
/// process the image does not hold keeps either end, the restored pipe
/// would be a different object from the one that process uses, and the
/// bytes between them would go nowhere. Such a dump is refused.
///
/// Membership in the image is FrozenByCrtool's to say.
enum PipePeers {
    struct Holder {
        var pid: Int32
        var fd: Int32
        var flags: Int32
    }

    /// Every descriptor of another process (not crtool, not `p.pid`) that
    /// refers to the same pipe or FIFO as `p`.
    static func holders(of p: FileProbe, in system: SystemDescriptors) -> [Holder] {
        descriptors(of: p, in: system).filter { $0.pid != p.pid }
    }

    /// Every descriptor of a process other than crtool that refers to the
    /// same pipe or FIFO as `p`, `p` and others of its process included.
    static func descriptors(of p: FileProbe, in system: SystemDescriptors) -> [Holder] {
        let candidates = p.link.hasPrefix("pipe:") ? system.holders(of: p.link) : system.pathHolders().filter { isSameFIFO($0, as: p) }
        return candidates.map { entry in
            let flags = entry.pid == p.pid && entry.fd == p.fd ? p.info.flags
                : (try? FdInfo.read(pid: entry.pid, fd: entry.fd))?.flags ?? Int32(O_RDWR)
            return Holder(pid: entry.pid, fd: entry.fd, flags: flags)
        }
    }

    private static func isSameFIFO(_ entry: SystemDescriptors.Entry, as p: FileProbe) -> Bool {
        var st = stat()
        guard stat("/proc/\(entry.pid)/fd/\(entry.fd)", &st) == 0 else { return false }
        return UInt64(st.st_dev) == p.device && UInt64(st.st_ino) == p.inode && st.st_mode & S_IFMT == S_IFIFO
    }

    /// Stops the dump when a process outside the image holds the pipe;
    /// `descriptors` are the pipe's (`descriptors(of:in:)`).
    static func refuseOutsiders(_ p: FileProbe, what: String, descriptors: [Holder], in system: SystemDescriptors) throws {
        guard let outsider = descriptors.first(where: { $0.pid != p.pid && !system.inImage($0.pid) }) else { return }
        let command = (try? ProcStat.read(pid: outsider.pid)).map { " (\($0.command))" } ?? ""
        let mine = p.info.flags & O_ACCMODE
        let theirs = outsider.flags & O_ACCMODE
        let relation: String
        if theirs == Int32(O_RDWR) {
            relation = "which is also held (for reading and writing) by"
        } else if mine != Int32(O_RDWR) && mine != theirs {
            relation = "whose other end (the \(endName(theirs))) is held by"
        } else {
            relation = "whose \(endName(theirs)) is also held by"
        }
        throw CheckpointError(
            "pid \(p.pid) fd \(p.fd) is \(what) \(relation) pid \(outsider.pid)\(command) fd \(outsider.fd), "
                + "a process outside the image; a pipe can only be checkpointed together with every process that holds it (--hold-external keeps it open for that process until the restore; --external \(p.link) leaves it out, for restore --inherit-fd fd[N]:\(p.link) to give the process another in its place)")
    }

    private static func endName(_ accessMode: Int32) -> String {
        switch accessMode {
        case Int32(O_RDONLY): return "read end"
        case Int32(O_WRONLY): return "write end"
        default: return "read-write end"
        }
    }
}
