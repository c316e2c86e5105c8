import Glibc
import Ptrace

/// A process's descriptors as /proc lists them, read with the listing
/// crtool's own dump uses.
extension ProcessTable {
    /// What each descriptor of `pid` shows in /proc/PID/fd, by number.
    static func descriptorLinks(_ pid: pid_t) throws -> [Int32: String] {
        var links: [Int32: String] = [:]
        for fd in try ProcDirectory.fileDescriptors(pid: pid) {
            links[fd] = try ProcFile.link("/proc/\(pid)/fd/\(fd)", pid: pid)
        }
        return links
    }

    /// The descriptors of `pid` that are sockets, in order.
    static func socketDescriptors(_ pid: pid_t) throws -> [Int32] {
        try descriptorLinks(pid).filter { $0.value.hasPrefix("socket:") }.keys.sorted()
    }
}
