import Foundation
import Glibc
import Ptrace

/// Anonymous pipes ("pipe:[inode]"). Saved: capacity, flags, and the bytes
/// buffered in the pipe, copied with tee so the pipe is left untouched.
/// Restored: the pipe is made once in crtool for all its descriptors in
/// the image, the bytes are written back once, in order, and each
/// descriptor is a new open of it with its own mode and flags.
enum Pipes: FileKind {
    static let kind = FileDescriptorImage.Kind.pipe

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFIFO) && p.link.hasPrefix("pipe:")
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        image.pipe = try PipeDescriptors.collect(p, what: "a pipe (\(p.link))", context: context)
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        try PipeDescriptors.open(image, context: context)
    }
}

/// Named pipes, reached by their path. Saved and restored like pipes; the
/// FIFO itself must still exist at its path on restore (it is not made).
enum FIFOs: FileKind {
    static let kind = FileDescriptorImage.Kind.fifo

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFIFO) && p.link.hasPrefix("/")
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        if p.link.hasSuffix(" (deleted)") {
            throw FileKinds.unsupported(p, what: "a FIFO deleted while open (\(p.link))")
        }
        image.device = p.device
        image.position = 0
        image.pipe = try PipeDescriptors.collect(p, what: "the FIFO \(p.link)", context: context)
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        try PipeDescriptors.open(image, context: context)
    }
}

/// What pipes and FIFOs share.
enum PipeDescriptors {
    static let packetMode: Int32 = 0o40000 // O_DIRECT on x86-64

    static func collect(_ p: FileProbe, what: String, context: FileDumpContext) throws -> PipeState {
        if p.info.flags & packetMode != 0 {
            throw FileKinds.unsupported(p, what: "\(what) in packet mode (O_DIRECT), whose message boundaries cannot be read without consuming them")
        }
        try PipePeers.refuseOutsiders(p, what: what, in: context.system)
        let local = try context.local(p.fd)
        var state = PipeState(capacity: try PipeOps.capacity(local))
        if p.info.flags & O_ACCMODE != O_WRONLY {
            state.data = Data(try PipeContent.snapshot(local, capacity: state.capacity, pid: p.pid, targetFD: p.fd))
        }
        return state
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        let pipe = try RestoredPipe.pipe(for: image, context: context)
        try pipe.fill(from: image)
        return .local(try pipe.openDescription(image, pid: context.pid))
    }
}
