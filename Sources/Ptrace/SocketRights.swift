import Glibc

/// Part of a socket's queue as a peek returns it, with the files that
/// travel with it (SCM_RIGHTS).
public struct PeekedMessage: Sendable {
    public var bytes: [UInt8]
    /// New descriptors in crtool (close-on-exec) for the very open file
    /// descriptions in flight with these bytes; the caller closes them.
    public var descriptors: [Int32]

    public init(bytes: [UInt8], descriptors: [Int32] = []) {
        self.bytes = bytes
        self.descriptors = descriptors
    }
}

/// Descriptors in flight. A peek with a control buffer makes the kernel
/// install, in the peeking process, a new descriptor for each file a
/// queued SCM_RIGHTS message carries, and leaves the message queued:
/// crtool then holds the files in flight without taking them from the
/// receiver.
extension SocketQueue {
    /// Room for SCM_MAX_FD (253) descriptors and credentials.
    private static let controlSize = 4096

    /// A stream socket's queue in pieces: each piece ends where a message
    /// carrying descriptors ends (the kernel stops a peek there), and holds
    /// that message's descriptors. Bytes without descriptors form one piece.
    public static func peekStreamWithRights(_ fd: Int32) throws -> [PeekedMessage] {
        try withPeekOffset(fd) {
            var out: [PeekedMessage] = []
            var pending: [UInt8] = []
            do {
                while true {
                    // A buffer as large as the whole queue, so a peek never
                    // stops inside a message with descriptors (each peek
                    // touching it would install them again).
                    let queued = max(Int(try queuedBytes(fd)), 4096)
                    guard let (n, bytes, fds) = try peek(fd, length: queued + 1, flags: 0) else { break }
                    if n == 0 { break }
                    pending += bytes
                    if !fds.isEmpty {
                        out.append(PeekedMessage(bytes: pending, descriptors: fds))
                        pending = []
                    }
                }
            } catch {
                closeAll(out)
                throw error
            }
            if !pending.isEmpty { out.append(PeekedMessage(bytes: pending)) }
            return out
        }
    }

    /// A datagram or seqpacket socket's queued messages with their
    /// descriptors, like `peekMessages`. The descriptors come with the
    /// length probe (an empty message can carry them too); the content is
    /// peeked without a control buffer so they are installed once.
    public static func peekMessagesWithRights(_ fd: Int32, endsAtEmpty: Bool, limit: Int = 1 << 20) throws -> [PeekedMessage] {
        try withPeekOffset(fd) {
            var out: [PeekedMessage] = []
            do {
                while true {
                    guard let (length, _, fds) = try peek(fd, length: 0, flags: Int32(MSG_TRUNC)) else { break }
                    if length == 0 {
                        if endsAtEmpty {
                            fds.forEach { close($0) }
                            break
                        }
                        out.append(PeekedMessage(bytes: [], descriptors: fds))
                        guard out.count <= limit else { throw SystemError("more than \(limit) queued messages", errno: EOVERFLOW) }
                        continue
                    }
                    out.append(PeekedMessage(bytes: [], descriptors: fds))
                    var message = [UInt8](repeating: 0, count: length)
                    let n = message.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
                    if n != length {
                        throw SystemError("peeking at a queued message of \(length) bytes (got \(n))", errno: n < 0 ? errno : EIO)
                    }
                    out[out.count - 1].bytes = message
                }
            } catch {
                closeAll(out)
                throw error
            }
            return out
        }
    }

    private static func closeAll(_ messages: [PeekedMessage]) {
        for m in messages { m.descriptors.forEach { close($0) } }
    }

    /// Bytes waiting in the receive queue (SIOCINQ).
    private static func queuedBytes(_ fd: Int32) throws -> Int32 {
        var n: Int32 = 0
        if ioctl(fd, UInt(FIONREAD), &n) != 0 { throw SystemError("SIOCINQ on a socket") }
        return n
    }

    /// One recvmsg(MSG_PEEK) with a control buffer: the length the call
    /// returned, the bytes read and the descriptors installed; nil when the
    /// queue is empty.
    private static func peek(_ fd: Int32, length: Int, flags: Int32) throws -> (Int, [UInt8], [Int32])? {
        var data = [UInt8](repeating: 0, count: max(length, 1))
        var control = [UInt8](repeating: 0, count: controlSize)
        var returned = 0
        var controlLength = 0
        var messageFlags: Int32 = 0
        while true {
            let r = data.withUnsafeMutableBytes { d in
                control.withUnsafeMutableBytes { c in
                    var iov = iovec(iov_base: d.baseAddress, iov_len: length)
                    return withUnsafeMutablePointer(to: &iov) { iovp in
                        var msg = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: iovp, msg_iovlen: 1,
                                         msg_control: c.baseAddress, msg_controllen: c.count, msg_flags: 0)
                        let n = recvmsg(fd, &msg, Int32(MSG_PEEK | MSG_DONTWAIT) | Int32(MSG_CMSG_CLOEXEC) | flags)
                        controlLength = Int(msg.msg_controllen)
                        messageFlags = msg.msg_flags
                        return n
                    }
                }
            }
            if r < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return nil }
                throw SystemError("peeking at a socket's queue")
            }
            returned = r
            break
        }
        let fds = rights(in: Array(control.prefix(controlLength)))
        if messageFlags & Int32(MSG_CTRUNC) != 0 {
            fds.forEach { close($0) }
            throw SystemError("peeking at the descriptors in flight on a socket (control data truncated)", errno: EMSGSIZE)
        }
        return (returned, Array(data.prefix(min(returned, length))), fds)
    }

    /// The descriptors of every SCM_RIGHTS message in a control buffer
    /// (struct cmsghdr: a 64-bit length, level, type, then the data,
    /// each header aligned to 8 bytes).
    public static func rights(in control: [UInt8]) -> [Int32] {
        func load<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var v: T = 0
            for i in 0..<MemoryLayout<T>.size { v |= T(control[at + i]) << (8 * i) }
            return v
        }
        var fds: [Int32] = []
        var at = 0
        while at + 16 <= control.count {
            let length = Int(load(at, UInt64.self))
            guard length >= 16, at + length <= control.count else { break }
            if load(at + 8, Int32.self) == SOL_SOCKET, load(at + 12, Int32.self) == Int32(SCM_RIGHTS) {
                var d = at + 16
                while d + 4 <= at + length {
                    fds.append(load(d, Int32.self))
                    d += 4
                }
            }
            at += (length + 7) & ~7
        }
        return fds
    }
}

extension Sockets {
    /// sendmsg(2) of one message carrying `rights` (SCM_RIGHTS) when not
    /// empty; returns the bytes sent or the errno.
    public static func send(_ fd: Int32, _ bytes: [UInt8], rights: [Int32], flags: Int32) -> Result<Int, SystemError> {
        guard !rights.isEmpty else { return send(fd, bytes, flags: flags) }
        let length = 16 + 4 * rights.count
        var control = [UInt8](repeating: 0, count: (length + 7) & ~7)
        func store<T: FixedWidthInteger>(_ value: T, at: Int) {
            for i in 0..<MemoryLayout<T>.size { control[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
        store(UInt64(length), at: 0)
        store(Int32(SOL_SOCKET), at: 8)
        store(Int32(SCM_RIGHTS), at: 12)
        for (i, r) in rights.enumerated() { store(r, at: 16 + 4 * i) }
        var data = bytes
        let n = data.withUnsafeMutableBytes { d in
            control.withUnsafeMutableBytes { c in
                var iov = iovec(iov_base: d.baseAddress, iov_len: d.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: iovp, msg_iovlen: 1,
                                     msg_control: c.baseAddress, msg_controllen: c.count, msg_flags: 0)
                    return sendmsg(fd, &msg, flags)
                }
            }
        }
        return n < 0 ? .failure(SystemError("sendmsg of \(bytes.count) bytes with \(rights.count) descriptors")) : .success(n)
    }
}
