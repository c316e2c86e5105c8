import Glibc
import Ptrace

/// Who holds a socket, by inode. A socket is in the image when a process
/// crtool holds frozen for this dump has a descriptor of it: the whole tree
/// is seized before any file is read, so "traced by crtool" is exactly the
/// set of processes the image will hold.
enum SocketHolders {
    struct Holder {
        var pid: Int32
        var fd: Int32
        /// Whether the process is one of the image's.
        var inImage: Bool
    }

    /// Every descriptor of the sockets `inodes` in any process crtool can
    /// see, from one pass over /proc (a few milliseconds with a few hundred
    /// processes, paid while the image is frozen).
    static func holders(of inodes: [UInt64]) -> [UInt64: [Holder]] {
        var wanted: [String: UInt64] = [:]
        for inode in inodes { wanted["socket:[\(inode)]"] = inode }
        var found: [UInt64: [Holder]] = [:]
        for pid in (try? ProcDirectory.numbers("/proc")) ?? [] where pid != getpid() {
            var traced: Bool?
            for fd in (try? ProcDirectory.fileDescriptors(pid: pid)) ?? [] {
                guard let link = try? ProcFile.link("/proc/\(pid)/fd/\(fd)", pid: pid), let inode = wanted[link] else { continue }
                if traced == nil { traced = FrozenByCrtool.contains(pid) }
                found[inode, default: []].append(Holder(pid: pid, fd: fd, inImage: traced!))
            }
        }
        return found
    }

    /// "pid 45 (nginx) fd 6", or why no process is named.
    static func describe(_ holder: Holder?) -> String {
        guard let h = holder else { return "no process crtool can see" }
        let command = (try? ProcStat.read(pid: h.pid).command).map { " (\($0))" } ?? ""
        return "pid \(h.pid)\(command) fd \(h.fd)"
    }
}
