import Glibc
import Ptrace

/// Regular files, directories, character devices and terminals held open
/// by a process: saved as path, flags and offset; restored by opening the
/// same path inside the restored process at the same descriptor number.
enum OpenFiles {
    static func collect(pid: Int32) throws -> [FileDescriptorImage] {
        var result: [FileDescriptorImage] = []
        for fd in try ProcDirectory.fileDescriptors(pid: pid) {
            let link = "/proc/\(pid)/fd/\(fd)"
            let target = try ProcFile.link(link, pid: pid)
            let info = try FdInfo.read(pid: pid, fd: fd)
            var st = stat()
            guard stat(link, &st) == 0 else { throw SystemError("stat \(link)", pid: pid) }
            let type = st.st_mode & S_IFMT
            let kind: FileDescriptorImage.Kind
            switch type {
            case S_IFREG:
                kind = .regular
            case S_IFDIR:
                kind = .directory
            case S_IFCHR:
                kind = isTerminal(device: st.st_rdev) ? .terminal : .characterDevice
                if target == "/dev/ptmx" || target.hasPrefix("/dev/pts/ptmx") {
                    throw unsupported(pid: pid, fd: fd, what: "a pseudo-terminal master (\(target))")
                }
            default:
                throw unsupported(pid: pid, fd: fd, what: describe(target: target))
            }
            if !target.hasPrefix("/") {
                throw unsupported(pid: pid, fd: fd, what: describe(target: target))
            }
            if target.hasSuffix(" (deleted)") {
                throw unsupported(pid: pid, fd: fd, what: "a file deleted while open (\(target))")
            }
            result.append(FileDescriptorImage(
                fd: fd, kind: kind, path: target,
                flags: info.flags & ~Int32(O_CLOEXEC),
                closeOnExec: info.flags & Int32(O_CLOEXEC) != 0,
                position: info.position,
                device: type == S_IFCHR ? UInt64(st.st_rdev) : nil))
        }
        return result
    }

    static func isTerminal(device: UInt) -> Bool {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        return (136...143).contains(major) || major == 4 || major == 5
    }

    static func describe(target: String) -> String {
        if target.hasPrefix("pipe:") { return "a pipe (\(target))" }
        if target.hasPrefix("socket:") { return "a socket (\(target))" }
        if target.hasPrefix("anon_inode:") { return "an anonymous inode \(target.dropFirst("anon_inode:".count))" }
        return "an unsupported file (\(target))"
    }

    static func unsupported(pid: Int32, fd: Int32, what: String) -> CheckpointError {
        CheckpointError("pid \(pid) fd \(fd) is \(what); crtool cannot checkpoint this kind of file yet (see docs/SUPPORT.md)")
    }

    /// Opens every descriptor at its number. The caller has closed all
    /// descriptors the restore stub inherited.
    static func restore(_ files: [FileDescriptorImage], with inj: RemoteSyscall) throws {
        let drop = Int32(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)
        for f in files.sorted(by: { $0.fd < $1.fd }) {
            var flags = f.flags & ~drop
            if f.closeOnExec { flags |= Int32(O_CLOEXEC) }
            if f.kind == .terminal { flags |= Int32(O_NOCTTY) }
            if f.kind == .directory { flags |= Int32(O_DIRECTORY) }
            let path = try inj.stage(string: f.path)
            let opened = try inj.call(Syscall.openat, UInt64(bitPattern: -100), path, UInt64(UInt32(bitPattern: flags)), 0)
            if opened < 0 {
                throw CheckpointError("cannot reopen \(f.path) as fd \(f.fd) of pid \(inj.tracee.pid): \(SystemError("open", errno: Int32(-opened)).description.replacingOccurrences(of: "open failed: ", with: ""))")
            }
            if opened != Int64(f.fd) {
                try inj.checked("dup3 to fd \(f.fd)", Syscall.dup3, UInt64(opened), UInt64(f.fd), f.closeOnExec ? UInt64(O_CLOEXEC) : 0)
                try inj.checked("close", Syscall.close, UInt64(opened))
            }
            if f.kind == .regular || f.kind == .directory, f.position != 0 {
                try inj.checked("lseek of fd \(f.fd) to \(f.position)", Syscall.lseek, UInt64(f.fd), UInt64(bitPattern: f.position), 0)
            }
        }
    }
}
