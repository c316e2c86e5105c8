import Ptrace

/// What `crtool check` asks of this host beyond the kernel: crtool's own
/// helper programs, and services some kinds of file need at the restore.
public enum HostFeatures {
    public static func probeAll() -> [KernelFeature] {
        [RestoreOptions.stubFeature, ExternalKeeper.hostFeature, DeathGuard.hostFeature, JournalStreams.hostFeature]
    }
}
