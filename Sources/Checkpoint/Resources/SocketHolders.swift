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
    }

    /// A descriptor of socket `inode` in a process of the image, if any.
    static func inImage(inode: UInt64) -> Holder? {
        // TracerPid names the tracing thread: crtool's tracer thread.
        let mine = Set((try? ProcDirectory.threads(pid: getpid())) ?? [])
        for pid in allProcesses() where tracer(of: pid).map(mine.contains) ?? false {
            if let fd = descriptor(of: inode, in: pid) { return Holder(pid: pid, fd: fd) }
        }
        return nil
    }

    /// Any process that holds socket `inode`, to name it in a refusal.
    static func anywhere(inode: UInt64) -> Holder? {
        for pid in allProcesses() {
            if let fd = descriptor(of: inode, in: pid) { return Holder(pid: pid, fd: fd) }
        }
        return nil
    }

    /// "socket:[123] held by pid 45 (nginx) fd 6" or why it has no holder.
    static func describe(inode: UInt64) -> String {
        guard let h = anywhere(inode: inode) else {
            return "socket:[\(inode)], which no process crtool can see holds"
        }
        let command = (try? ProcStat.read(pid: h.pid).command).map { " (\($0))" } ?? ""
        return "socket:[\(inode)] held by pid \(h.pid)\(command) fd \(h.fd)"
    }

    private static func allProcesses() -> [Int32] {
        (try? ProcDirectory.numbers("/proc")) ?? []
    }

    private static func tracer(of pid: Int32) -> Int32? {
        guard let text = try? ProcFile.text("/proc/\(pid)/status", pid: pid) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("TracerPid:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int32($0) }
        }
        return nil
    }

    private static func descriptor(of inode: UInt64, in pid: Int32) -> Int32? {
        let link = "socket:[\(inode)]"
        for fd in (try? ProcDirectory.fileDescriptors(pid: pid)) ?? [] {
            if (try? ProcFile.link("/proc/\(pid)/fd/\(fd)", pid: pid)) == link { return fd }
        }
        return nil
    }
}
