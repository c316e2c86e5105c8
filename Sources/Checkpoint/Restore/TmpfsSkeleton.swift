import Glibc
import Ptrace

/// What a fresh tmpfs of a mount namespace held, made again in it by
/// calls injected into a process of the namespace, parents first, each
/// with its owner and mode (the process's umask does not apply to them).
enum TmpfsSkeleton {
    private static let atFDCWD = UInt64(bitPattern: -100)
    private static let symlinkNoFollow: UInt64 = 0x100

    static func make(_ entries: [SavedMountEntry], under mountPoint: String, with inj: RemoteSyscall) throws {
        for e in entries {
            let path = MountedPath.join(mountPoint, e.path)
            let staged = try inj.stage(string: path, at: 0)
            switch e.kind {
            case .directory:
                if !e.path.isEmpty {
                    try inj.checked("making the directory \(path)", Syscall.mkdirat, atFDCWD, staged, 0o700)
                }
            case .emptyFile:
                let fd = try inj.checked("making the file \(path)", Syscall.openat, atFDCWD, staged,
                                         UInt64(O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC), 0o600)
                _ = try? inj.call(Syscall.close, fd)
            case .symlink:
                try inj.checked("making the link \(path)", Syscall.symlinkat, try inj.stage(string: e.linkTarget ?? "", at: 8192), atFDCWD, staged)
            case .characterDevice, .blockDevice:
                let type = e.kind == .characterDevice ? S_IFCHR : S_IFBLK
                try inj.checked("making the device node \(path)", Syscall.mknodat, atFDCWD, staged, UInt64(type) | 0o600,
                                encoded(e.device ?? 0))
            }
            try inj.checked("giving \(path) its owner", Syscall.fchownat, atFDCWD, staged, UInt64(e.uid), UInt64(e.gid), symlinkNoFollow)
            if e.kind != .symlink {
                try inj.checked("giving \(path) its mode", Syscall.fchmodat, atFDCWD, staged, UInt64(e.mode & 0o7777))
            }
        }
    }

    /// A device number as mknod(2) takes it: 12 bits of major, 20 of minor.
    static func encoded(_ device: UInt64) -> UInt64 {
        let number = DeviceNumber(device)
        return (number.minor & 0xff) | (number.major << 8) | ((number.minor & ~0xff) << 12)
    }
}
