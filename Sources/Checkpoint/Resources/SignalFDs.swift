import Glibc
import Ptrace

/// signalfd descriptors. Only the mask belongs to the descriptor: the
/// signals it reads are the process's pending signals, which are saved and
/// queued again with the threads, so one pending at the dump is read after
/// the restore.
enum SignalFDs: FileKind {
    static let kind = FileDescriptorImage.Kind.signalfd

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[signalfd]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        guard let text = p.info.fields["sigmask"], let mask = UInt64(text, radix: 16) else {
            throw ProcParseError(file: "/proc/\(p.pid)/fdinfo/\(p.fd)", line: p.info.fields["sigmask"] ?? "",
                                 reason: "missing or bad sigmask")
        }
        image.signalfd = SignalFDState(mask: mask)
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = image.signalfd else {
            throw CheckpointError("fd \(image.fd) of pid \(context.pid) is a signalfd without its saved state")
        }
        let flags = (image.flags & O_NONBLOCK) | O_CLOEXEC
        return .local(try SignalFDOps.create(mask: state.mask, flags: flags))
    }
}
