import Glibc
import Ptrace

/// Whether a process belongs to the image being dumped. The whole tree is
/// seized before any file is read, so a process is in the image exactly
/// when one of crtool's threads is its tracer (TracerPid names the tracing
/// thread, not crtool's pid). Kinds that must know who else holds an
/// object (pipes, sockets) ask here.
enum FrozenByCrtool {
    static func contains(_ pid: Int32) -> Bool {
        guard let tracer = (try? ProcStatus.read(pid: pid))?.tracerPid, tracer > 0 else { return false }
        return ProcFile.exists("/proc/self/task/\(tracer)")
    }
}
