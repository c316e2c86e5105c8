import Glibc

/// Reading what waits in a socket's receive queue without taking it: the
/// dump must leave the process able to read every byte if it carries on.
/// MSG_PEEK alone would return the head of the queue again and again, so
/// SO_PEEK_OFF moves the peek along the queue, and is put back to what
/// the process had afterwards (normally -1, off).
public enum SocketQueue {
    /// A stream socket's queued bytes, in order.
    public static func peekStream(_ fd: Int32) throws -> [UInt8] {
        try withPeekOffset(fd) {
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN { break }
                    throw SystemError("peeking at a socket's queue")
                }
                if n == 0 { break }
                out += chunk[0..<n]
            }
            return out
        }
    }

    /// A datagram or seqpacket socket's queued messages, each whole and in
    /// order. A zero-length probe reads each message's length first
    /// (MSG_TRUNC) without moving the offset. When the socket can no longer
    /// receive (`endsAtEmpty`), a seqpacket socket reports an empty
    /// message at the end of its queue for ever; that one is the end.
    /// The kernel marks an empty message as seen when it is peeked at, and
    /// a peek with an offset passes over marked ones: an empty message
    /// something peeked at before (an earlier dump) is not returned.
    public static func peekMessages(_ fd: Int32, endsAtEmpty: Bool, limit: Int = 1 << 20) throws -> [[UInt8]] {
        try withPeekOffset(fd) {
            var out: [[UInt8]] = []
            while true {
                let length = recv(fd, nil, 0, Int32(MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC))
                if length < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN { break }
                    throw SystemError("peeking at a socket's queue")
                }
                if length == 0 {
                    // The probe marked this empty message as seen, so the
                    // next probe goes past it.
                    if endsAtEmpty { break }
                    out.append([])
                    guard out.count <= limit else { throw SystemError("more than \(limit) queued messages", errno: EOVERFLOW) }
                    continue
                }
                var message = [UInt8](repeating: 0, count: length)
                let n = message.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
                if n != length {
                    throw SystemError("peeking at a queued message of \(length) bytes (got \(n))", errno: n < 0 ? errno : EIO)
                }
                out.append(message)
            }
            return out
        }
    }

    /// The length of the message at the head of a datagram socket's
    /// queue, nil when none waits; nothing is taken and no offset moves.
    public static func firstMessageLength(_ fd: Int32) throws -> Int? {
        while true {
            let length = recv(fd, nil, 0, Int32(MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC))
            if length >= 0 { return length }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw SystemError("peeking at a socket's queue")
        }
    }

    static func withPeekOffset<T>(_ fd: Int32, _ body: () throws -> T) throws -> T {
        let old = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PEEK_OFF)
        try Sockets.setIntOption(fd, level: SOL_SOCKET, name: SO_PEEK_OFF, 0)
        defer { try? Sockets.setIntOption(fd, level: SOL_SOCKET, name: SO_PEEK_OFF, old) }
        return try body()
    }
}
