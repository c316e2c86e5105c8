import Glibc

/// The host's room for Linux AIO: io_setup counts every context's events
/// against fs.aio-max-nr, and fails with EAGAIN past it.
public enum AioLimits {
    /// "fs.aio-max-nr N, M in use", "?" for what cannot be read.
    public static var room: String {
        func read(_ name: String) -> String {
            (try? ProcFile.text("/proc/sys/fs/\(name)", pid: getpid()))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        }
        return "fs.aio-max-nr \(read("aio-max-nr")), \(read("aio-nr")) in use"
    }
}
