import CSupport
import Glibc

/// Pipe operations on crtool's own descriptors, typed so that the layers
/// above never handle pointers. Used to copy what a pipe holds without
/// taking it out (tee) and to fill a re-made pipe.
public enum PipeOps {
    static let getPipeSize: Int32 = 1032 // F_GETPIPE_SZ
    static let setPipeSize: Int32 = 1031 // F_SETPIPE_SZ
    static let fionread: UInt64 = 0x541B
    static let spliceNonblock: UInt64 = 2 // SPLICE_F_NONBLOCK
    static let teeSyscall = 276

    /// pipe2(2): a new pipe with both ends in crtool.
    public static func create(flags: Int32) throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        let r = ends.withUnsafeMutableBufferPointer {
            cr_syscall6(293, UInt64(UInt(bitPattern: $0.baseAddress)), UInt64(UInt32(bitPattern: flags)), 0, 0, 0, 0) // pipe2
        }
        if r != 0 { throw SystemError("pipe2") }
        return (ends[0], ends[1])
    }

    /// The pipe's capacity in bytes (F_GETPIPE_SZ).
    public static func capacity(_ fd: Int32) throws -> Int {
        let r = fcntl(fd, getPipeSize)
        if r < 0 { throw SystemError("F_GETPIPE_SZ of fd \(fd)") }
        return Int(r)
    }

    /// Sets the pipe's capacity (F_SETPIPE_SZ); the kernel rounds it up to
    /// a power of two pages.
    public static func setCapacity(_ fd: Int32, _ bytes: Int) throws {
        let r = fcntl(fd, setPipeSize, Int32(clamping: bytes))
        if r < 0 { throw SystemError("F_SETPIPE_SZ of fd \(fd) to \(bytes) bytes") }
    }

    /// Bytes buffered in the pipe (FIONREAD).
    public static func queuedBytes(_ fd: Int32) throws -> Int {
        var count: Int32 = 0
        let r = withUnsafeMutablePointer(to: &count) {
            cr_syscall6(16, UInt64(fd), fionread, UInt64(UInt(bitPattern: $0)), 0, 0, 0) // ioctl
        }
        if r < 0 { throw SystemError("FIONREAD of fd \(fd)") }
        return Int(count)
    }

    /// tee(2) without blocking: duplicates up to `count` bytes from the
    /// pipe `source` into the pipe `destination`, leaving `source` as it was.
    public static func tee(from source: Int32, to destination: Int32, count: Int) throws -> Int {
        let r = cr_syscall6(teeSyscall, UInt64(source), UInt64(destination), UInt64(count), spliceNonblock, 0, 0)
        if r < 0 { throw SystemError("tee from fd \(source)") }
        return r
    }

    /// Reads what `fd` (non-blocking) holds now, at most `limit` bytes.
    public static func readAvailable(_ fd: Int32, limit: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: limit)
        var used = 0
        while used < limit {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + used, limit - used) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                throw SystemError("read of fd \(fd)")
            }
            if n == 0 { break }
            used += n
        }
        return Array(out[0..<used])
    }

    /// Reads what `fd` (non-blocking) holds now, read by read, at most
    /// `limit` bytes each: a pipe hands out each of its packets (buffers
    /// written in packet mode, O_DIRECT) by a read of its own.
    public static func readEach(_ fd: Int32, limit: Int) throws -> [[UInt8]] {
        var reads: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, limit) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return reads }
                throw SystemError("read of fd \(fd)")
            }
            if n == 0 { return reads }
            reads.append(Array(buffer[0..<n]))
        }
    }

    /// Writes every byte or throws: a full non-blocking pipe is an error
    /// (EAGAIN), never a wait.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("writing \(bytes.count - done) of \(bytes.count) bytes to fd \(fd)")
            }
            done += n
        }
    }
}
