import Foundation
import Glibc

/// Reads and writes on the two sides of a pty that wait only as long as
/// the kernel takes to move bytes between them (a line discipline takes
/// bytes in after the write that sent them has returned), never for
/// another process.
enum PtyIO {
    /// How long the kernel gets to move bytes from one side to the other.
    static let settleTime: Double = 2

    /// More than the kernel's buffers hold: a side still giving bytes past
    /// this is being written to by a process that runs.
    static let mostQueued = 1 << 20

    /// Everything `fd` gives without waiting.
    static func drain(_ fd: Int32, what: String) throws -> Data {
        var taken = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while try wait(fd, for: POLLIN, milliseconds: 0) {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                taken.append(contentsOf: buffer[..<n])
                if taken.count > mostQueued {
                    throw SystemError("reading what \(what) holds: more than \(mostQueued) bytes, still coming", errno: EFBIG)
                }
                continue
            }
            // EIO: a master whose slave no one holds, once it is empty.
            if n == 0 || errno == EAGAIN || errno == EIO { break }
            if errno == EINTR { continue }
            throw SystemError("read of \(what)")
        }
        return taken
    }

    /// Reads `count` bytes, which the other side has sent.
    static func take(_ fd: Int32, count: Int, what: String) throws -> Data {
        var taken = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(settleTime)
        while taken.count < count {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, try wait(fd, for: POLLIN, milliseconds: Int32(left * 1000) + 1) else {
                throw SystemError("waiting for \(count) bytes from \(what): \(taken.count) came", errno: ETIMEDOUT)
            }
            let n = read(fd, &buffer, min(buffer.count, count - taken.count))
            if n > 0 {
                taken.append(contentsOf: buffer[..<n])
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                throw SystemError("read of \(what)")
            }
        }
        return taken
    }

    /// Writes every byte, waiting while the other side's buffers are full.
    static func writeAll(_ fd: Int32, _ bytes: Data, what: String) throws {
        var done = 0
        let deadline = Date().addingTimeInterval(settleTime)
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n > 0 {
                done += n
                continue
            }
            if n < 0, errno != EAGAIN, errno != EINTR { throw SystemError("write to \(what)") }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, try wait(fd, for: POLLOUT, milliseconds: Int32(left * 1000) + 1) else {
                throw SystemError("writing \(bytes.count) bytes to \(what): \(done) went in", errno: ETIMEDOUT)
            }
        }
    }

    /// Waits until a read of `fd` could return `count` bytes.
    static func awaitReadable(_ fd: Int32, count: Int) throws {
        try settle("waiting for a pty slave to take in \(count) bytes: it took \(try TerminalOps.readableCount(fd))") {
            try TerminalOps.readableCount(fd) >= count
        }
    }

    /// Whether the line discipline of `fd` holds all it can. A poll first
    /// has the kernel move into it what was written before.
    static func disciplineIsFull(_ fd: Int32) throws -> Bool {
        _ = try wait(fd, for: POLLIN, milliseconds: 0)
        return try TerminalOps.readableCount(fd) >= PtyQueues.lineDisciplineSize
    }

    /// Whether a write to `fd` would take a byte now: not while output is
    /// stopped, nor while the other side's buffers are full.
    static func isWritable(_ fd: Int32) throws -> Bool {
        try wait(fd, for: POLLOUT, milliseconds: 0)
    }

    /// How a slave's output was stopped: by its stop character (a user's
    /// ^S, which ^Q undoes) or by a program's TCOOFF (which only TCOON does).
    enum OutputStop { case byCharacter, byProgram }

    /// Starts the slave's stopped output, and says how it was stopped: the
    /// kernel starts a ^S-stopped terminal whose IXON goes off, and only
    /// TCOON starts one a program stopped.
    static func startOutput(_ peer: Int32, _ attributes: TerminalAttributes) throws -> OutputStop {
        var noFlowControl = attributes
        noFlowControl.flowControl = false
        try TerminalOps.setAttributes(peer, noFlowControl.bytes)
        try TerminalOps.setAttributes(peer, attributes.bytes)
        if try isWritable(peer) { return .byCharacter }
        try TerminalOps.setOutputFlow(peer, running: true)
        return .byProgram
    }

    /// Stops the slave's output again the way it was stopped.
    static func stopOutput(_ stop: OutputStop, master: Int32, peer: Int32, attributes: TerminalAttributes) throws {
        guard stop == .byCharacter, let character = attributes.stopCharacter else {
            return try TerminalOps.setOutputFlow(peer, running: false)
        }
        try writeAll(master, Data([character]), what: "the pty master")
        try settle("stopping the output of a pty again") { try !isWritable(peer) }
    }

    /// Waits, a millisecond at a time, until `done` holds, for at most
    /// `settleTime`; then fails with `failure`.
    private static func settle(_ failure: @autoclosure () throws -> String, until done: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(settleTime)
        while try !done() {
            guard deadline.timeIntervalSinceNow > 0 else { throw SystemError(try failure(), errno: ETIMEDOUT) }
            usleep(1000)
        }
    }

    private static func wait(_ fd: Int32, for event: Int32, milliseconds: Int32) throws -> Bool {
        var wanted = pollfd(fd: fd, events: Int16(event), revents: 0)
        while true {
            let r = poll(&wanted, 1, milliseconds)
            if r >= 0 { return wanted.revents & Int16(event) != 0 }
            if errno != EINTR { throw SystemError("poll of a pty") }
        }
    }
}
