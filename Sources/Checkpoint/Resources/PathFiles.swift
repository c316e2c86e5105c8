import Glibc
import Ptrace

/// Files reached by a path: regular files, directories, character devices
/// and terminals. Saved as path, flags and offset; reopened by path inside
/// the restored process, so it opens them with its own credentials.
///
/// O_PATH descriptors too, of whatever the path leads to (a symbolic link
/// with O_NOFOLLOW, a FIFO, a socket file, a device): they only locate a
/// file, so opening the path again with the same flags is all they are.
enum PathFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.regular

    static func handles(_ kind: FileDescriptorImage.Kind) -> Bool {
        [.regular, .directory, .characterDevice, .terminal].contains(kind)
    }

    static func recognizes(_ p: FileProbe) -> Bool {
        guard p.link.hasPrefix("/") else { return false }
        return isPathOnly(p) || [UInt32(S_IFREG), UInt32(S_IFDIR), UInt32(S_IFCHR)].contains(p.fileType)
    }

    /// O_PATH (kernel value; glibc hides it behind _GNU_SOURCE).
    static let pathOnly: Int32 = 0o10000000

    static func isPathOnly(_ p: FileProbe) -> Bool { p.info.flags & pathOnly != 0 }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        if isPathOnly(p) {
            image.kind = p.fileType == UInt32(S_IFDIR) ? .directory : .regular
            if p.link.hasSuffix(" (deleted)") {
                throw FileKinds.unsupported(p, what: "an O_PATH descriptor of a deleted file (\(p.link))")
            }
            try requireReachable(p)
            return
        }
        switch p.fileType {
        case UInt32(S_IFDIR): image.kind = .directory
        case UInt32(S_IFCHR):
            noteDevice(&image, rdev: p.rdev)
            if let state = statefulDevice(p.rdev) {
                throw FileKinds.unsupported(p, what: "\(p.link), a device whose open file holds \(state); "
                    + "reopening it by path would give a blank one")
            }
        default:
            image.kind = .regular
            image.size = p.size
            image.modified = p.modified
        }
        if p.link.hasSuffix(" (deleted)") {
            throw FileKinds.unsupported(p, what: "a deleted \(image.kind == .directory ? "directory" : "device node") (\(p.link))")
        }
        if image.kind == .regular || image.kind == .directory {
            try requireReachable(p)
        }
    }

    /// The restore opens the path the kernel names: it must lead to this
    /// very file now. It does not for a file on a file system no path of
    /// crtool's reaches (a mount of another namespace) or one something
    /// was mounted over since.
    private static func requireReachable(_ p: FileProbe) throws {
        var st = stat()
        // A symbolic link (held with O_PATH | O_NOFOLLOW) is the link itself.
        let path = ReachablePath.of(p.link, pid: p.pid)
        let found = p.fileType == UInt32(S_IFLNK) ? lstat(path, &st) : stat(path, &st)
        guard found == 0, UInt64(st.st_dev) == p.device, UInt64(st.st_ino) == p.inode else {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is \(p.link), but that path does not lead to the file the process has open "
                + "(a file on a mount crtool cannot see, or one hidden by a later mount); "
                + "crtool reopens files by path, so it cannot checkpoint this one")
        }
    }

    /// Character devices whose state lives in the open file, not in the
    /// device: what each holds, or nil for one that reopens as it was.
    static func statefulDevice(_ device: UInt64) -> String? {
        let number = DeviceNumber(device)
        switch (number.major, number.minor) {
        case (10, 229): return "a FUSE file system"
        case (10, 232): return "a virtual machine (KVM)"
        case (10, 223): return "an input device it made (uinput)"
        case (10, 238), (10, 241): return "a vhost device"
        case (10, 257): return "a userfaultfd"
        case (226, _): return "a GPU context (DRM)"
        default: return nil
        }
    }

    /// A character device's kind (a terminal or another) and number.
    static func noteDevice(_ image: inout FileDescriptorImage, rdev: UInt64) {
        image.kind = isTerminal(device: rdev) ? .terminal : .characterDevice
        image.device = rdev
    }

    static func isTerminal(device: UInt64) -> Bool {
        let major = DeviceNumber(device).major
        return (136...143).contains(major) || major == 4 || major == 5
    }

    /// The flags to open it again with.
    private static func openFlags(_ f: FileDescriptorImage) -> Int32 {
        // O_ASYNC given to open is only a flag, with no signal behind it;
        // SignalDrivenIO sets it the way that registers the file.
        let drop = Int32(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_ASYNC)
        var flags = f.flags & ~drop
        if f.closeOnExec { flags |= Int32(O_CLOEXEC) }
        if f.kind == .terminal { flags |= Int32(O_NOCTTY) }
        if f.kind == .directory { flags |= Int32(O_DIRECTORY) }
        return flags
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        let flags = openFlags(f)
        let shellJob = f.kind == .terminal && f.device != nil && f.device == context.shellTerminal
        let seeks = (f.kind == .regular || f.kind == .directory) && f.position != 0 && !isProcText(f)
        return .inProcess(PathOpen(path: shellJob ? "/dev/tty" : f.path, flags: flags, position: seeks ? f.position : 0))
    }

    /// A /proc file's position is a place in text the kernel writes as it
    /// is read (seq_file), and a seek writes it up to there. Written while
    /// crtool's scratch area is still mapped in the process, its maps has
    /// a line more than it will have, and the program would go on reading
    /// from the middle of a line. The position is set once the scratch
    /// area is gone, just before the process is let go, on a copy of the
    /// process's descriptor (the same open file).
    static func installed(_ f: FileDescriptorImage, context: FileRestoreContext) throws {
        guard isProcText(f) else { return }
        context.registry.procTextFiles[context.pid, default: []].append((f.fd, f.path, openFlags(f)))
        guard f.position != 0 else { return }
        let pid = context.pid, fd = f.fd, position = f.position
        context.registry.whenReleasing(once: "position of /proc file fd \(fd) of pid \(pid)") {
            let copy = try PidFD(pid: pid).duplicate(fd)
            defer { close(copy) }
            guard lseek(copy, off_t(position), SEEK_SET) == off_t(position) else {
                throw SystemError("setting fd \(fd) (\(f.path)) at \(position)", pid: pid)
            }
        }
    }

    private static func isProcText(_ f: FileDescriptorImage) -> Bool {
        f.kind == .regular && f.path.hasPrefix("/proc/")
    }
}
