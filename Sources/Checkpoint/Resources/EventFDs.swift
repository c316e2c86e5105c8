import Glibc
import Ptrace

/// eventfd descriptors. The counter and EFD_SEMAPHORE come from fdinfo
/// (the process is frozen, so the counter cannot move meanwhile); the
/// restore makes a new eventfd in crtool with the same counter and flags.
enum EventFDs: FileKind {
    static let kind = FileDescriptorImage.Kind.eventfd

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[eventfd]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        guard let text = p.info.fields["eventfd-count"], let count = UInt64(text, radix: 16) else {
            throw ProcParseError(file: "/proc/\(p.pid)/fdinfo/\(p.fd)", line: p.info.fields["eventfd-count"] ?? "",
                                 reason: "missing or bad eventfd-count")
        }
        // Older kernels do not show the semaphore flag; there an eventfd
        // is saved as an ordinary counter.
        let semaphore = p.info.fields["eventfd-semaphore"] == "1"
        image.eventfd = EventFDState(count: count, semaphore: semaphore)
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = image.eventfd else {
            throw CheckpointError("fd \(image.fd) of pid \(context.pid) is an eventfd without its saved state")
        }
        let flags = (image.flags & O_NONBLOCK) | O_CLOEXEC
        return .local(try EventFDOps.create(count: state.count, semaphore: state.semaphore, flags: flags))
    }
}
