import Glibc
import Ptrace

/// inotify instances. Each watch is saved as a path to the watched inode
/// (its file handle from fdinfo, opened with open_by_handle_at) and its
/// mask, and watched again from crtool, which plants the instance.
///
/// The program holds watch descriptor numbers, so they must come back the
/// same. The kernel hands them out in increasing order, never reusing one
/// until the counter wraps (idr_alloc_cyclic from 1). So the watches are
/// added in wd order, and each gap (a watch the program removed) is used
/// up by adding and at once removing a placeholder watch on an empty
/// directory. Removing a watch queues an IN_IGNORED event the program must
/// not see; so until every number is placed, real watches ask for no
/// events at all (mask IN_IGNORED), the queue is then drained, and only
/// after that are the real masks set, which keeps each watch's number.
///
/// Events queued but not yet read at dump time are not kept.
enum InotifyFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.inotify

    private static let inIgnored: UInt32 = 0x8000
    private static let inDontFollow: UInt32 = 0x0200_0000
    private static let inAllEvents: UInt32 = 0xfff

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:inotify"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        var watches: [InotifyState.Watch] = []
        for w in try InotifyInfo.read(pid: p.pid, fd: p.fd) {
            let path = try WatchedInodes.path(inode: w.inode, device: w.device, handleType: w.handleType, handle: w.handle,
                                              probe: p, holder: "an inotify instance whose watch \(w.wd)")
            let mask = w.mask & ~(Inotify.maskAdd | Inotify.maskCreate)
            watches.append(InotifyState.Watch(wd: w.wd, path: path, mask: mask, inode: w.inode))
        }
        image.inotify = InotifyState(watches: watches)
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        // A watch is on an inode: the same file reached by crtool's path.
        let watches = try (f.inotify?.watches ?? []).sorted { $0.wd < $1.wd }.map { w in
            var reached = w
            reached.path = try context.hostPath(w.path, for: "watch \(w.wd) of inotify fd \(f.fd)")
            return reached
        }
        let fd = try Inotify.create(flags: O_NONBLOCK)
        do {
            try placeWatches(watches, on: fd, what: "inotify fd \(f.fd) of pid \(context.pid)")
            if f.flags & O_NONBLOCK == 0 {
                guard fcntl(fd, F_SETFL, 0) == 0 else { throw SystemError("clearing O_NONBLOCK on inotify fd \(f.fd)") }
            }
            return .local(fd)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Adds `watches` (sorted by wd) so that each gets its own wd back.
    private static func placeWatches(_ watches: [InotifyState.Watch], on fd: Int32, what: String) throws {
        var placeholder: String?
        defer { if let dir = placeholder { rmdir(dir) } }
        var next: Int32 = 1
        for w in watches {
            guard w.wd >= next else {
                throw CheckpointError("\(what): watch descriptor \(w.wd) is listed twice or out of order")
            }
            while next < w.wd {
                if placeholder == nil { placeholder = try Inotify.placeholderDirectory() }
                let wd = try Inotify.addWatch(fd, path: placeholder!, mask: inIgnored | Inotify.maskCreate)
                try Inotify.removeWatch(fd, wd: wd)
                next = wd + 1
            }
            let wd = try Inotify.addWatch(fd, path: w.path, mask: inIgnored | followFlag(w.path))
            guard wd == w.wd else {
                throw CheckpointError("\(what): watching \(w.path) gave watch descriptor \(wd) instead of \(w.wd)")
            }
            next = wd + 1
        }
        try Inotify.drain(fd)
        for w in watches {
            // A watch asking for no events at all still needs a valid mask.
            let mask = w.mask & inAllEvents == 0 ? w.mask | inIgnored : w.mask
            let wd = try Inotify.addWatch(fd, path: w.path, mask: mask | followFlag(w.path))
            guard wd == w.wd else {
                throw CheckpointError("\(what): \(w.path) changed while its watch \(w.wd) was restored")
            }
        }
    }

    /// A watch on a symbolic link itself was made with IN_DONT_FOLLOW,
    /// which the kernel does not show in fdinfo.
    private static func followFlag(_ path: String) -> UInt32 {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK ? inDontFollow : 0
    }
}
