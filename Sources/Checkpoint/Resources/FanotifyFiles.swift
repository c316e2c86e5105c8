import Glibc
import Ptrace

/// fanotify groups of the notification class (file monitors, indexers,
/// audit tools). The group is made again from crtool with the flags it was
/// made with, and each mark is placed again with its mask, ignored mask
/// and flags, then the group is planted in the process, as inotify
/// instances are.
///
/// A mark on an inode is saved as a path to it, found from the file handle
/// fdinfo shows. A mark on a mount or a whole file system is saved as the
/// mount point the process sees, and placed through /proc/PID/root, so
/// it lands on the mount of the restored process's own mount namespace.
///
/// Groups of the content and pre-content classes are refused: they decide
/// other processes' opens and reads (permission events), and a frozen
/// listener would hold up every process it watches, crtool included.
/// Events queued but not yet read at the dump are not kept.
enum FanotifyFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.fanotify

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[fanotify]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let group = try FanotifyInfo.read(pid: p.pid, fd: p.fd)
        guard group.flags & Fanotify.classMask == 0 else {
            let name = group.flags & Fanotify.classMask == Fanotify.classContent ? "content" : "pre-content"
            throw FileKinds.unsupported(p, what: "a fanotify group of the \(name) class, which decides other processes' accesses (permission events)")
        }
        let mounts = try MountTable.read(pid: p.pid)
        let marks = try group.marks.map { try saved($0, of: p, mounts: mounts) }
        image.fanotify = FanotifyState(flags: group.flags, eventFlags: group.eventFlags, marks: marks)
    }

    private static func saved(_ mark: FanotifyMark, of p: FileProbe, mounts: [MountEntry]) throws -> FanotifyState.Mark {
        func made(_ object: FanotifyState.Mark.Object, _ path: String, inode: UInt64? = nil) -> FanotifyState.Mark {
            FanotifyState.Mark(object: object, path: path, inode: inode, flags: mark.flags, mask: mark.mask, ignoredMask: mark.ignoredMask)
        }
        switch mark.object {
        case let .inode(inode, device, handleType, handle):
            let path = try WatchedInodes.path(inode: inode, device: device, handleType: handleType, handle: handle,
                                              probe: p, holder: "a fanotify group whose mark")
            return made(.inode, path, inode: inode)
        case let .mount(id):
            guard let at = mounts.firstIndex(where: { $0.id == id }) else {
                throw FileKinds.unsupported(p, what: "a fanotify group with a mark on mount \(id), which is not in the process's mount namespace")
            }
            let point = mounts[at].mountPoint
            guard !mounts[(at + 1)...].contains(where: { $0.mountPoint == point }) else {
                throw FileKinds.unsupported(p, what: "a fanotify group with a mark on the mount at \(point), hidden under a later mount there")
            }
            return made(.mount, point)
        case let .filesystem(device):
            let (major, minor) = FileHandles.split(kernelDevice: device)
            let ofDevice = mounts.filter { $0.major == major && $0.minor == minor }
            guard let mount = ofDevice.first(where: { $0.root == "/" }) ?? ofDevice.first else {
                throw FileKinds.unsupported(p, what: "a fanotify group with a mark on the file system of device \(major):\(minor), which no mount of the process's shows")
            }
            return made(.filesystem, mount.mountPoint)
        }
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.fanotify else { throw CheckpointError("fanotify fd \(f.fd) of pid \(context.pid) has no group in the image") }
        let fd = try Fanotify.create(flags: state.flags, eventFlags: state.eventFlags)
        do {
            // fdinfo lists the newest mark first: placed oldest first, the
            // group lists them as it did.
            for mark in state.marks.reversed() {
                try place(mark, on: fd, context: context, what: "the mark on \(mark.path) of fanotify fd \(f.fd) of pid \(context.pid)")
            }
            // FAN_NONBLOCK is where O_NONBLOCK started; F_SETFL may have
            // changed it since.
            if (f.flags & O_NONBLOCK != 0) != (state.flags & Fanotify.nonblock != 0) {
                guard fcntl(fd, F_SETFL, f.flags & O_NONBLOCK) == 0 else { throw SystemError("setting the status flags of fanotify fd \(f.fd)") }
            }
            return .local(fd)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Adds the mask, then the ignored mask, with the flags each needs; an
    /// evictable mark must be evictable from its first add.
    private static func place(_ mark: FanotifyState.Mark, on fd: Int32, context: FileRestoreContext, what: String) throws {
        let object: UInt32 = switch mark.object {
        case .inode: 0
        case .mount: Fanotify.markMount
        case .filesystem: Fanotify.markFilesystem
        }
        // A saved path names the marked object itself: not followed.
        let path = mark.object == .inode ? try context.hostPath(mark.path, for: what) : "/proc/\(context.pid)/root" + mark.path
        let common = Fanotify.markAdd | object | Fanotify.markDontFollow | mark.flags & Fanotify.markEvictable
        do {
            if mark.mask != 0 {
                try Fanotify.mark(fd, flags: common, mask: mark.mask, path: path)
            }
            if mark.ignoredMask != 0 {
                let ignore = mark.flags & Fanotify.markIgnore != 0 ? Fanotify.markIgnore : Fanotify.markIgnoredMask
                try Fanotify.mark(fd, flags: common | ignore | mark.flags & Fanotify.markIgnoredSurviveModify,
                                  mask: mark.ignoredMask, path: path)
            }
        } catch {
            throw CheckpointError("\(what): \(error)")
        }
    }
}
