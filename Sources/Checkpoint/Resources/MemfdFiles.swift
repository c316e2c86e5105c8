import Glibc
import Ptrace

/// Descriptors of memfds. A memfd's content is a shared-memory object of
/// the image (SharedMemoryDumper saves it once, whether processes map it,
/// hold it, or both), and each descriptor is a new open file description
/// of the memfd made again from it: the descriptor and every mapping stay
/// one file, and the seals come back with the object.
enum MemfdFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.memfd

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFREG) && p.link.hasPrefix("/memfd:") && p.link.hasSuffix(DeletedFiles.suffix)
            && [FileSystemMagic.tmpfs, FileSystemMagic.hugetlbfs].contains(FileSystemMagic.of("/proc/\(p.pid)/fd/\(p.fd)"))
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        image.memfd = MemfdState(object: SharedMemoryImage.objectID(device: p.device, inode: p.inode))
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let object = f.memfd?.object, let memfd = context.registry.sharedMemory[object] else {
            throw ImageError(file: "process-\(context.pid).json", field: "files[fd \(f.fd)].memfd", reason: "no shared-memory object for it")
        }
        // Reopening through /proc gives a description of the same memfd
        // with this descriptor's own access mode and flags.
        let flags = (f.flags & ~Int32(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC
        let fd = try LocalFile.open("/proc/self/fd/\(memfd)", flags: flags, pid: context.pid)
        if f.position != 0 && lseek(fd, off_t(f.position), SEEK_SET) < 0 {
            let error = SystemError("lseek of the memfd of fd \(f.fd) of pid \(context.pid) to \(f.position)", pid: context.pid)
            close(fd)
            throw error
        }
        return .local(fd)
    }
}
