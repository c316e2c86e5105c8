import Foundation
import Glibc
import Ptrace

/// What a fresh tmpfs of a mount namespace held, made again in it by
/// calls injected into a process of the namespace, parents first, each
/// with its owner and mode (the process's umask does not apply to them).
/// A file's bytes are written by crtool through the descriptor the
/// process made it with, so no path of the image is followed twice.
enum TmpfsContents {
    private static let atFDCWD = UInt64(bitPattern: -100)
    private static let symlinkNoFollow: UInt64 = 0x100
    /// UTIME_OMIT: leave that time as it is.
    private static let utimeOmit = (1 << 30) - 2

    static func make(_ entries: [SavedMountEntry], under mountPoint: String, with inj: RemoteSyscall) throws {
        for e in entries {
            let path = MountedPath.join(mountPoint, e.path)
            let staged = try inj.stage(string: path, at: 0)
            switch e.kind {
            case .directory:
                if !e.path.isEmpty {
                    try inj.checked("making the directory \(path)", Syscall.mkdirat, atFDCWD, staged, 0o700)
                }
            case .emptyFile, .file:
                let fd = try inj.checked("making the file \(path)", Syscall.openat, atFDCWD, staged,
                                         UInt64(O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC), 0o600)
                defer { _ = try? inj.call(Syscall.close, fd) }
                if let content = e.content {
                    try write(content, modified: e.modifiedNanoseconds, through: "/proc/\(inj.tracee.pid)/fd/\(fd)", path: path, pid: inj.tracee.pid)
                }
            case .symlink:
                try inj.checked("making the link \(path)", Syscall.symlinkat, try inj.stage(string: e.linkTarget ?? "", at: 8192), atFDCWD, staged)
            case .hardLink:
                let target = MountedPath.join(mountPoint, e.linkTarget ?? "")
                try inj.checked("linking \(path) to \(target)", Syscall.linkat, atFDCWD, try inj.stage(string: target, at: 8192), atFDCWD, staged, 0)
                continue // It has the owner and mode of the name it shares.
            case .characterDevice, .blockDevice, .fifo:
                let type = e.kind == .characterDevice ? S_IFCHR : e.kind == .blockDevice ? S_IFBLK : S_IFIFO
                try inj.checked("making the \(e.kind == .fifo ? "FIFO" : "device node") \(path)", Syscall.mknodat, atFDCWD, staged,
                                UInt64(type) | 0o600, encoded(e.device ?? 0))
            }
            try inj.checked("giving \(path) its owner", Syscall.fchownat, atFDCWD, staged, UInt64(e.uid), UInt64(e.gid), symlinkNoFollow)
            if e.kind != .symlink {
                try inj.checked("giving \(path) its mode", Syscall.fchmodat, atFDCWD, staged, UInt64(e.mode & 0o7777))
            }
            // After the owner: a change of owner drops a file capability.
            for (name, value) in (e.extendedAttributes ?? [:]).sorted(by: { $0.key < $1.key }) {
                let stagedName = try inj.stage(string: name, at: 8192)
                let stagedValue = try inj.stage([UInt8](value), at: 8192 + 512)
                try inj.checked("giving \(path) its extended attribute \(name)", Syscall.lsetxattr, staged, stagedName, stagedValue, UInt64(value.count), 0)
            }
        }
    }

    /// Writes a file's bytes, leaving each page of zeros a hole as a
    /// sparse file had it, and gives it back its modification time.
    private static func write(_ content: Data, modified: Int64?, through link: String, path: String, pid: Int32) throws {
        let fd = try LocalFile.open(link, flags: O_WRONLY | O_CLOEXEC, pid: pid)
        defer { close(fd) }
        guard ftruncate(fd, off_t(content.count)) == 0 else {
            throw SystemError("setting the size of \(path) to \(content.count) bytes", pid: pid)
        }
        let bytes = [UInt8](content)
        for run in dataRuns(bytes) {
            try LocalFile.write(fd, bytes, range: run, at: UInt64(run.lowerBound))
        }
        if let modified {
            var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit),
                         timespec(tv_sec: Int(modified / 1_000_000_000), tv_nsec: Int(modified % 1_000_000_000))]
            guard futimens(fd, &times) == 0 else { throw SystemError("giving \(path) its modification time", pid: pid) }
        }
    }

    /// The runs of pages holding a byte other than zero.
    static func dataRuns(_ bytes: [UInt8], pageSize: Int = 4096) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = 0
        while start < bytes.count {
            let end = min(start + pageSize, bytes.count)
            if bytes[start..<end].contains(where: { $0 != 0 }) {
                if let last = runs.last, last.upperBound == start {
                    runs[runs.count - 1] = last.lowerBound..<end
                } else {
                    runs.append(start..<end)
                }
            }
            start = end
        }
        return runs
    }

    /// A device number as mknod(2) takes it: 12 bits of major, 20 of minor.
    static func encoded(_ device: UInt64) -> UInt64 {
        let number = DeviceNumber(device)
        return (number.minor & 0xff) | (number.major << 8) | ((number.minor & ~0xff) << 12)
    }
}
