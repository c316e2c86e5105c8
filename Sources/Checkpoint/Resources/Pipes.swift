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
    static func collect(_ p: FileProbe, what: String, context: FileDumpContext) throws -> PipeState {
        let descriptors = PipePeers.descriptors(of: p, in: context.system)
        try PipePeers.refuseOutsiders(p, what: what, descriptors: descriptors, in: context.system)
        let local = try context.local(p.fd)
        var state = PipeState(capacity: try PipeOps.capacity(local))
        guard p.info.flags & O_ACCMODE != O_WRONLY else { return state }
        // Packet mode is a description's (O_DIRECT): what it writes is
        // packets, whoever reads them, so the writers say. With every
        // writer gone, a reader in packet mode is all there is to go by.
        let writers = descriptors.filter { $0.flags & O_ACCMODE != O_RDONLY }
        if (writers.isEmpty ? descriptors : writers).contains(where: { $0.flags & PipeState.packetModeFlag != 0 }) {
            let packets = try PipeContent.packets(local, capacity: state.capacity, pid: p.pid, targetFD: p.fd)
            if let mixed = packets.first(where: { $0.count > PipeState.largestPacket }) {
                throw CheckpointError("pid \(p.pid) fd \(p.fd) is \(what) in packet mode (O_DIRECT) that holds \(mixed.count) bytes a reader "
                    + "would take at once, more than a packet, so bytes written outside packet mode lie among its packets; crtool cannot tell "
                    + "where they end (dump again once the program has read them)")
            }
            state.data = Data(packets.joined())
            state.packets = packets.map(\.count)
        } else {
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
