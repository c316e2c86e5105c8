import Glibc
import Ptrace

/// The bytes a pipe holds, copied without taking them out: tee(2) gives
/// crtool's own pipe references to the same buffers, and crtool reads
/// those. The target's pipe is left exactly as it was, so a dump with
/// --leave-running does not disturb the reader.
enum PipeContent {
    /// `fd` is crtool's copy of a descriptor that can read the pipe.
    static func snapshot(_ fd: Int32, capacity: Int, pid: Int32, targetFD: Int32) throws -> [UInt8] {
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
        let copied = try PipeOps.tee(from: fd, to: copy.write, count: queued)
        let bytes = try PipeOps.readAvailable(copy.read, limit: queued)
        guard copied == queued, bytes.count == queued else {
            throw CheckpointError("pid \(pid) fd \(targetFD): could copy only \(bytes.count) of the \(queued) bytes buffered in the pipe")
        }
        return bytes
    }
}
