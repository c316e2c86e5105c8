import Ptrace

/// What `crtool check` asks of this host beyond the kernel: services some
/// kinds of file need at the restore.
public enum HostFeatures {
    public static func probeAll() -> [KernelFeature] {
        [JournalStreams.hostFeature, ExternalKeeper.hostFeature]
    }
}
