import Foundation
import Glibc
import Ptrace

/// Regular files deleted while open. Their content is saved with the image
/// (up to a limit, `crtool dump --ghost-limit`: a huge deleted file is more
/// likely a mistake than state worth carrying); on restore the file is made again under its old name
/// (or beside it when that name is taken again), filled, opened with the
/// recorded flags and offset, and deleted again, so the process holds an
/// unlinked file with the same bytes.
enum DeletedFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.deletedFile
    static let defaultLimit: UInt64 = 64 << 20
    static let suffix = " (deleted)"

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFREG) && p.link.hasPrefix("/") && p.link.hasSuffix(suffix) && !PathFiles.isPathOnly(p)
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        // Linked elsewhere, it is that file the descriptor opens, also
        // when it is mapped privately too (the mapping's copy holds what
        // the program wrote there, its own).
        if p.links > 0 && LinkedElsewhere.applies(device: p.device, pid: p.pid) {
            try collectLinkedElsewhere(&image, probe: p, context: context)
            return
        }
        // Also mapped, by this process or another of the tree: the
        // mapping's object (a memfd after the restore) is what the
        // descriptor opens again, or the two would come back as two files.
        let object = SharedMemoryImage.objectID(device: p.device, inode: p.inode)
        if context.mappedObjects.contains(object) {
            image.kind = .memfd
            image.memfd = MemfdState(object: object)
            return
        }
        // The program may hold it write-only (a log that logrotate deleted
        // while the program appends to it): its bytes are read through a
        // descriptor of crtool's own, opened for reading.
        let fd = try LocalFile.open("/proc/\(p.pid)/fd/\(p.fd)", flags: O_RDONLY, pid: p.pid)
        defer { close(fd) }
        let size = try LocalFile.size(fd)
        guard size <= context.ghostLimit else {
            throw FileKinds.unsupported(p, what: "a file deleted while open (\(p.link)) of \(size) bytes, more than the \(context.ghostLimit) bytes crtool saves (--ghost-limit)")
        }
        var content = [UInt8](repeating: 0, count: Int(size))
        if size > 0 { try LocalFile.read(fd, into: &content, count: Int(size), at: 0) }
        image.path = String(p.link.dropLast(suffix.count))
        image.deletedFile = DeletedFileState(mode: p.mode & 0o7777, content: Data(content))
    }

    /// See `LinkedElsewhere`: the descriptor is a path file at the other name.
    private static func collectLinkedElsewhere(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let deletedName = String(p.link.dropLast(suffix.count))
        let link = "/proc/\(p.pid)/fd/\(p.fd)"
        guard let name = SurvivingName.find(deletedName: deletedName, openAs: link, device: p.device, inode: p.inode, pid: p.pid) else {
            throw FileKinds.unsupported(p, what: "\(p.link), " + LinkedElsewhere.notFound(link, deletedName: deletedName, device: p.device,
                                                                                          inode: p.inode, links: p.links))
        }
        var found = p
        found.link = name
        image.kind = .regular
        image.path = name
        try PathFiles.collect(&image, probe: found, context: context)
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.deletedFile else {
            throw ImageError(file: "process-\(context.pid).json", field: "files[fd \(f.fd)].deletedFile", reason: "missing")
        }
        if f.flags & tmpFile != 0 { return .local(try makeTmpFile(f, state: state, context: context)) }
        var path = try context.hostPath(f.path, for: "the deleted file of fd \(f.fd)")
        if ProcFile.exists(path) { path += ".crtool-\(context.pid)-\(f.fd)" }
        let made = try LocalFile.open(path, flags: O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, pid: context.pid, mode: state.mode)
        defer {
            close(made)
            unlink(path)
        }
        let bytes = [UInt8](state.content)
        if !bytes.isEmpty { try LocalFile.write(made, bytes, range: 0..<bytes.count, at: 0) }
        let flags = f.flags & ~Int32(O_CREAT | O_EXCL | O_TRUNC)
        let reopened = try LocalFile.open("/proc/self/fd/\(made)", flags: flags, pid: context.pid)
        if f.position != 0 { _ = lseek(reopened, off_t(f.position), SEEK_SET) }
        return .local(reopened)
    }

    /// __O_TMPFILE: the file was made with open(dir, O_TMPFILE), never had
    /// a name ("/dir/#inode (deleted)"), and keeps the flag, with
    /// O_DIRECTORY, in its status flags.
    static let tmpFile: Int32 = 0o20000000

    /// An O_TMPFILE file is made again the same way, in the same directory.
    private static func makeTmpFile(_ f: FileDescriptorImage, state: DeletedFileState, context: FileRestoreContext) throws -> Int32 {
        let inside = try context.hostPath(f.path, for: "the O_TMPFILE file of fd \(f.fd)")
        let directory = String(inside[..<(inside.lastIndex(of: "/") ?? inside.startIndex)])
        let flags = f.flags & ~Int32(O_CREAT | O_EXCL | O_TRUNC)
        let fd = try LocalFile.open(directory.isEmpty ? "/" : directory, flags: flags, pid: context.pid, mode: state.mode)
        do {
            let bytes = [UInt8](state.content)
            if !bytes.isEmpty { try LocalFile.write(fd, bytes, range: 0..<bytes.count, at: 0) }
            if f.position != 0 && lseek(fd, off_t(f.position), SEEK_SET) < 0 {
                throw SystemError("lseek of the O_TMPFILE file of fd \(f.fd) of pid \(context.pid)", pid: context.pid)
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }
}
