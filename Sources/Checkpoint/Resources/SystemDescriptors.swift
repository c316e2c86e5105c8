import Glibc
import Ptrace

/// Every descriptor of every process crtool can see (crtool's own left
/// out), read once per dump and asked many times who else holds a pipe, a
/// FIFO or a socket. A pass over /proc/*/fd costs a readlink per
/// descriptor on the system; asked again for each of a process's pipes,
/// it made a dump of a process with a thousand of them take a second.
/// Read while the image is frozen: its own processes cannot change it.
final class SystemDescriptors {
    struct Entry {
        var pid: Int32
        var fd: Int32
        /// readlink of /proc/PID/fd/FD: "pipe:[123]", "socket:[45]", a path.
        var link: String
    }

    private var scanned: [String: [Entry]]?
    private var imageMembership: [Int32: Bool] = [:]

    /// Every descriptor whose link reads `link`, in pid and fd order.
    func holders(of link: String) -> [Entry] {
        byLink()[link] ?? []
    }

    /// Every descriptor whose link is a path (FIFOs are found among them).
    func pathHolders() -> [Entry] {
        byLink().filter { $0.key.hasPrefix("/") }.flatMap(\.value).sorted { ($0.pid, $0.fd) < ($1.pid, $1.fd) }
    }

    /// Whether `pid` is one of the image's processes (FrozenByCrtool),
    /// asked once per process.
    func inImage(_ pid: Int32) -> Bool {
        if let known = imageMembership[pid] { return known }
        let member = FrozenByCrtool.contains(pid)
        imageMembership[pid] = member
        return member
    }

    private func byLink() -> [String: [Entry]] {
        if let scanned { return scanned }
        var table: [String: [Entry]] = [:]
        let me = getpid()
        for pid in (try? ProcDirectory.numbers("/proc")) ?? [] where pid != me {
            for fd in (try? ProcDirectory.fileDescriptors(pid: pid)) ?? [] {
                guard let link = try? ProcFile.link("/proc/\(pid)/fd/\(fd)", pid: pid) else { continue }
                table[link, default: []].append(Entry(pid: pid, fd: fd, link: link))
            }
        }
        scanned = table
        return table
    }
}
