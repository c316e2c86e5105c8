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
    static func holders(of p: FileProbe) -> [Holder] {
        let me = getpid()
        var found: [Holder] = []
        for pid in (try? ProcDirectory.numbers("/proc")) ?? [] where pid != me && pid != p.pid {
            for fd in (try? ProcDirectory.fileDescriptors(pid: pid)) ?? [] {
                let path = "/proc/\(pid)/fd/\(fd)"
                guard let link = try? ProcFile.link(path), isSameObject(link: link, path: path, as: p) else { continue }
                let flags = (try? FdInfo.read(pid: pid, fd: fd))?.flags ?? Int32(O_RDWR)
                found.append(Holder(pid: pid, fd: fd, flags: flags))
            }
        }
        return found
    }

    private static func isSameObject(link: String, path: String, as p: FileProbe) -> Bool {
        if p.link.hasPrefix("pipe:") { return link == p.link }
        guard link.hasPrefix("/") else { return false }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return UInt64(st.st_dev) == p.device && UInt64(st.st_ino) == p.inode && st.st_mode & S_IFMT == S_IFIFO
    }

    /// Stops the dump when a process outside the image holds the pipe.
    static func refuseOutsiders(_ p: FileProbe, what: String) throws {
        guard let outsider = holders(of: p).first(where: { !FrozenByCrtool.contains($0.pid) }) else { return }
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
                + "a process outside the image; a pipe can only be checkpointed together with every process that holds it")
    }

    private static func endName(_ accessMode: Int32) -> String {
        switch accessMode {
        case Int32(O_RDONLY): return "read end"
        case Int32(O_WRONLY): return "write end"
        default: return "read-write end"
        }
    }
}
