import Foundation
import Glibc
import Ptrace

/// A pipe or FIFO made again in crtool, shared by every descriptor of it
/// in the image, whatever process holds them (FileRestoreContext.shared,
/// keyed by the pipe's identity). Each open file description of it is a
/// fresh open of /proc/self/fd/N, which for pipes and FIFOs is a new
/// description of the same pipe, with its own access mode and flags;
/// except that the first description of each end of a pipe is the one
/// pipe2 made, since open(2) adds O_LARGEFILE, which pipe(2) ends lack
/// and F_GETFL would show.
///
/// crtool keeps its own descriptors of the pipe until the restore ends,
/// so the saved bytes can be written in whichever order the ends are made,
/// and an end no process holds any more disappears only then, as it had.
final class RestoredPipe {
    /// crtool's descriptors that reach the pipe for reading and for writing.
    let readAnchor: Int32
    let writeAnchor: Int32
    /// Where the saved bytes go in (non-blocking: a full pipe is an error).
    let filler: Int32
    /// Whether the saved bytes are back in: they are put back once per pipe.
    var filled = false
    /// Whether the description of readAnchor or writeAnchor itself went to
    /// a process (a pipe's ends only), after which its flags are not ours.
    private var anchorsGiven: Set<Int32> = []
    private let anchorsAreEnds: Bool

    private init(readAnchor: Int32, writeAnchor: Int32, filler: Int32, anchorsAreEnds: Bool) {
        self.readAnchor = readAnchor
        self.writeAnchor = writeAnchor
        self.filler = filler
        self.anchorsAreEnds = anchorsAreEnds
    }

    static func key(for f: FileDescriptorImage) -> String {
        f.kind == .fifo ? "fifo:\(f.device ?? 0):\(f.inode)" : "pipe:\(f.inode)"
    }

    /// The pipe `f` belongs to, made on first use.
    static func pipe(for f: FileDescriptorImage, context: FileRestoreContext) throws -> RestoredPipe {
        let key = key(for: f)
        if let made = context.shared[key] as? RestoredPipe { return made }
        let made = f.kind == .fifo ? try openFIFO(f, context: context) : try makePipe(f, context: context)
        context.shared[key] = made
        return made
    }

    private static func makePipe(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> RestoredPipe {
        let ends = try PipeOps.create(flags: O_CLOEXEC | O_NONBLOCK)
        context.registry.keep(ends.read)
        context.registry.keep(ends.write)
        try setCapacity(ends.write, f, context: context)
        // A description of its own: the write end may go to a process,
        // with whatever flags it had there.
        let filler = open("/proc/self/fd/\(ends.write)", O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if filler < 0 { throw SystemError("reopening a pipe made for fd \(f.fd) of pid \(context.pid)", pid: context.pid) }
        context.registry.keep(filler)
        return RestoredPipe(readAnchor: ends.read, writeAnchor: ends.write, filler: filler, anchorsAreEnds: true)
    }

    /// Opening a FIFO for reading alone waits for a writer and the other
    /// way round; read-write never waits, and is an anchor for both ends.
    private static func openFIFO(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> RestoredPipe {
        let fd = open(try context.hostPath(f.path, for: "the FIFO of fd \(f.fd)"), O_RDWR | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            throw CheckpointError("cannot reopen the FIFO \(f.path) for fd \(f.fd) of pid \(context.pid): \(ErrnoNames.name(errno))")
        }
        context.registry.keep(fd)
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFIFO else {
            throw CheckpointError("\(f.path) (fd \(f.fd) of pid \(context.pid)) is no longer a FIFO")
        }
        try setCapacity(fd, f, context: context)
        return RestoredPipe(readAnchor: fd, writeAnchor: fd, filler: fd, anchorsAreEnds: false)
    }

    private static func setCapacity(_ fd: Int32, _ f: FileDescriptorImage, context: FileRestoreContext) throws {
        guard let capacity = f.pipe?.capacity, capacity > 0 else { return }
        if try PipeOps.capacity(fd) != capacity {
            do {
                try PipeOps.setCapacity(fd, capacity)
            } catch let e as SystemError {
                throw CheckpointError("cannot give the pipe of fd \(f.fd) of pid \(context.pid) its capacity of \(capacity) bytes: \(e)")
            }
        }
    }

    /// Puts the saved bytes back the first time a descriptor that carries
    /// them (one that could read the pipe) is made.
    func fill(from f: FileDescriptorImage) throws {
        guard !filled, let data = f.pipe?.data else { return }
        filled = true
        guard let packets = f.pipe?.packets else {
            try PipeOps.writeAll(filler, [UInt8](data))
            return
        }
        // Each write in packet mode, of a page at most, is one packet.
        let flags = fcntl(filler, F_GETFL)
        guard flags >= 0, fcntl(filler, F_SETFL, flags | PipeState.packetModeFlag) == 0 else {
            throw SystemError("putting the pipe of fd \(f.fd) in packet mode to give it its packets")
        }
        defer { _ = fcntl(filler, F_SETFL, flags) }
        var start = data.startIndex
        for length in packets {
            try PipeOps.writeAll(filler, [UInt8](data[start..<start + length]))
            start += length
        }
    }

    /// A new open file description of the pipe with `f`'s access mode and
    /// flags, in crtool.
    func openDescription(_ f: FileDescriptorImage, pid: Int32) throws -> Int32 {
        let mode = f.flags & O_ACCMODE
        let anchor = mode == Int32(O_WRONLY) ? writeAnchor : readAnchor
        // Packet mode is set after the open, which refuses O_DIRECT.
        let statusFlags = f.flags & (O_NONBLOCK | O_APPEND | PipeState.packetModeFlag)
        if anchorsAreEnds && mode != O_RDWR && f.flags & Self.largeFile == 0 && !anchorsGiven.contains(anchor) {
            anchorsGiven.insert(anchor)
            let fd = fcntl(anchor, F_DUPFD_CLOEXEC, 0)
            if fd < 0 { throw SystemError("duplicating the pipe end for fd \(f.fd) of pid \(pid)", pid: pid) }
            guard fcntl(fd, F_SETFL, statusFlags) == 0 else {
                let error = SystemError("F_SETFL on the pipe end for fd \(f.fd) of pid \(pid)", pid: pid)
                close(fd)
                throw error
            }
            return fd
        }
        let fd = open("/proc/self/fd/\(anchor)", mode | statusFlags & ~PipeState.packetModeFlag | O_CLOEXEC)
        if fd < 0 { throw SystemError("reopening the pipe of fd \(f.fd) of pid \(pid)", pid: pid) }
        if statusFlags & PipeState.packetModeFlag != 0 && fcntl(fd, F_SETFL, statusFlags) != 0 {
            let error = SystemError("putting the pipe of fd \(f.fd) of pid \(pid) in packet mode", pid: pid)
            close(fd)
            throw error
        }
        return fd
    }

    /// The kernel's O_LARGEFILE on x86-64 (glibc defines it as 0 there).
    static let largeFile: Int32 = 0o100000
}
