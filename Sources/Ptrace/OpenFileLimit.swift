import Foundation
import Glibc

/// crtool holds descriptors for what the trees it saves and restores hold:
/// a copy of each pipe and socket it inspects, a memfd per shared-memory
/// object until every process has mapped it. A tree that is itself near
/// the usual soft limit of 1024 (or 20000 shared mappings) would make
/// crtool fail with EMFILE half way.
public enum OpenFileLimit {
    /// Raises crtool's own RLIMIT_NOFILE: the soft limit to the hard one
    /// and, where crtool may (CAP_SYS_RESOURCE), the hard one to the
    /// kernel's ceiling, fs.nr_open. Returns the soft limit now in force.
    /// Processes crtool restores get the limits of their image.
    @discardableResult
    public static func raise() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        let ceiling = (try? ProcFile.text("/proc/sys/fs/nr_open"))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? UInt64(limit.rlim_max)
        if UInt64(limit.rlim_max) < ceiling {
            var wider = rlimit(rlim_cur: rlim_t(ceiling), rlim_max: rlim_t(ceiling))
            if setrlimit(resource, &wider) == 0 { return ceiling }
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = rlimit(rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max)
            if setrlimit(resource, &raised) == 0 { return UInt64(limit.rlim_max) }
        }
        return UInt64(limit.rlim_cur)
    }

    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
}
