import Glibc
import Ptrace

/// The bytes a pipe holds, copied without taking them out: tee(2) gives
/// crtool's own pipe references to the same buffers, and crtool reads
/// those. The target's pipe is left exactly as it was, so a dump with
/// --leave-running does not disturb the reader.
enum PipeContent {
    /// `fd` is crtool's copy of a descriptor that can read the pipe.
    static func snapshot(_ fd: Int32, capacity: Int, pid: Int32, targetFD: Int32) throws -> [UInt8] {
        try copied(fd, capacity: capacity, pid: pid, targetFD: targetFD) { copy, queued in
            [try PipeOps.readAvailable(copy, limit: queued)]
        }.first ?? []
    }

    /// The pipe's bytes as its reader would get them read by read: each
    /// read ends with a packet, so each is one packet, unless bytes
    /// written outside packet mode came before it in the same read.
    static func packets(_ fd: Int32, capacity: Int, pid: Int32, targetFD: Int32) throws -> [[UInt8]] {
        try copied(fd, capacity: capacity, pid: pid, targetFD: targetFD) { copy, _ in
            try PipeOps.readEach(copy, limit: 65536)
        }
    }

    /// Reads a copy of what the pipe holds with `read`, which gets crtool's
    /// pipe holding the copy and how many bytes it holds, and returns the
    /// chunks it read (none for an empty pipe).
    private static func copied(_ fd: Int32, capacity: Int, pid: Int32, targetFD: Int32,
                               read: (Int32, Int) throws -> [[UInt8]]) throws -> [[UInt8]] {
        let queued = try PipeOps.queuedBytes(fd)
        guard queued > 0 else { return [] }
        let copy = try PipeOps.create(flags: O_CLOEXEC | O_NONBLOCK)
        defer {
            close(copy.read)
            close(copy.write)
        }
        // As many buffer slots as the source has, so one tee takes them all
        // (a second tee would start again from the first byte).
        if try PipeOps.capacity(copy.write) < capacity {
            try PipeOps.setCapacity(copy.write, capacity)
        }
        let teed = try PipeOps.tee(from: fd, to: copy.write, count: queued)
        let chunks = try read(copy.read, queued)
        let count = chunks.reduce(0) { $0 + $1.count }
        guard teed == queued, count == queued else {
            throw CheckpointError("pid \(pid) fd \(targetFD): could copy only \(count) of the \(queued) bytes buffered in the pipe")
        }
        return chunks
    }
}
