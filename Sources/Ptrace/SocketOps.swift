import CSupport
import Glibc

/// Socket system calls on crtool's own descriptors, typed: addresses are
/// `SocketAddress` values and options integers or bytes, so callers never
/// handle sockaddr or option pointers. With pidfd_getfd these inspect and
/// prepare the very sockets a target holds.
public enum Sockets {
    /// socket(2) with SOCK_CLOEXEC: crtool's own copy never leaks into a child.
    public static func create(family: Int32, type: Int32, protocol proto: Int32 = 0) throws -> Int32 {
        let fd = socket(family, type | Int32(SOCK_CLOEXEC.rawValue), proto)
        if fd < 0 { throw SystemError("socket(\(family), \(type), \(proto))") }
        return fd
    }

    /// socketpair(2) of unix sockets of `type`, close-on-exec.
    public static func pair(type: Int32) throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) != 0 {
            throw SystemError("socketpair of type \(type)")
        }
        return (fds[0], fds[1])
    }

    public static func bind(_ fd: Int32, _ address: SocketAddress) throws {
        let bytes = address.bytes
        let r = bytes.withUnsafeBytes { raw in
            Glibc.bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if r != 0 { throw SystemError("bind to \(address)") }
    }

    /// connect(2); returns 0 or the errno, since callers decide what a
    /// refused or missing peer means.
    public static func connect(_ fd: Int32, _ address: SocketAddress) -> Int32 {
        let bytes = address.bytes
        let r = bytes.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        return r == 0 ? 0 : errno
    }

    /// accept(2) of the next connection, the new socket close-on-exec.
    public static func accept(_ fd: Int32) throws -> Int32 {
        let s = Glibc.accept(fd, nil, nil)
        if s < 0 { throw SystemError("accept") }
        _ = fcntl(s, F_SETFD, FD_CLOEXEC)
        return s
    }

    public static func listen(_ fd: Int32, backlog: Int32) throws {
        if Glibc.listen(fd, backlog) != 0 { throw SystemError("listen with backlog \(backlog)") }
    }

    public static func shutdown(_ fd: Int32, how: Int32) throws {
        if Glibc.shutdown(fd, how) != 0 { throw SystemError("shutdown(\(how))") }
    }

    /// getsockname(2).
    public static func localAddress(_ fd: Int32) throws -> SocketAddress {
        try address(fd, "getsockname") { getsockname(fd, $0, $1) }
    }

    /// getpeername(2), nil when the socket is not connected.
    public static func peerAddress(_ fd: Int32) throws -> SocketAddress? {
        do {
            return try address(fd, "getpeername") { getpeername(fd, $0, $1) }
        } catch let error as SystemError where error.errno == ENOTCONN {
            return nil
        }
    }

    private static func address(_ fd: Int32, _ what: String,
                                _ call: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) throws -> SocketAddress {
        var storage = [UInt8](repeating: 0, count: 128)
        var length = socklen_t(storage.count)
        let r = storage.withUnsafeMutableBytes { raw in
            call(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        if r != 0 { throw SystemError(what) }
        return try SocketAddress(bytes: Array(storage.prefix(Int(min(length, socklen_t(storage.count))))))
    }

    public static func intOption(_ fd: Int32, level: Int32, name: Int32) throws -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, level, name, &value, &length) != 0 {
            throw SystemError("getsockopt(\(level), \(name))")
        }
        return value
    }

    public static func setIntOption(_ fd: Int32, level: Int32, name: Int32, _ value: Int32) throws {
        var v = value
        if setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw SystemError("setsockopt(\(level), \(name), \(value))")
        }
    }

    public static func setBytesOption(_ fd: Int32, level: Int32, name: Int32, _ bytes: [UInt8]) throws {
        let r = bytes.withUnsafeBytes { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }
        if r != 0 { throw SystemError("setsockopt(\(level), \(name)) with \(bytes.count) bytes") }
    }

    /// The classic BPF program attached with SO_ATTACH_FILTER, as its
    /// 8-byte instructions; nil when there is none. SO_GET_FILTER counts
    /// in instructions, not bytes. An eBPF program (SO_ATTACH_BPF) has no
    /// classic form to give back: EACCES, thrown.
    public static func classicFilter(_ fd: Int32) throws -> [UInt8]? {
        var count = socklen_t(0)
        if getsockopt(fd, SOL_SOCKET, 26, nil, &count) != 0 { throw SystemError("getsockopt(SO_GET_FILTER)") }
        guard count > 0 else { return nil }
        var instructions = [UInt8](repeating: 0, count: Int(count) * 8)
        var length = count
        let r = instructions.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, 26, $0.baseAddress, &length) }
        if r != 0 { throw SystemError("getsockopt(SO_GET_FILTER) of \(count) instructions") }
        return Array(instructions.prefix(Int(length) * 8))
    }

    /// SO_ATTACH_FILTER with a classic BPF program of 8-byte instructions.
    public static func attachClassicFilter(_ fd: Int32, _ instructions: [UInt8]) throws {
        precondition(instructions.count % 8 == 0 && !instructions.isEmpty)
        let r = instructions.withUnsafeBytes { raw -> Int32 in
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
            var program = cr_sock_fprog(len: UInt16(instructions.count / 8), filter: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return setsockopt(fd, SOL_SOCKET, 26, &program, socklen_t(MemoryLayout<cr_sock_fprog>.size))
        }
        if r != 0 { throw SystemError("setsockopt(SO_ATTACH_FILTER) of \(instructions.count / 8) instructions") }
    }

    /// An option read as up to `size` bytes (struct tcp_info and the like).
    public static func bytesOption(_ fd: Int32, level: Int32, name: Int32, size: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: size)
        var length = socklen_t(size)
        let r = buffer.withUnsafeMutableBytes { getsockopt(fd, level, name, $0.baseAddress, &length) }
        if r != 0 { throw SystemError("getsockopt(\(level), \(name))") }
        return Array(buffer.prefix(Int(length)))
    }

    /// send(2) of one message; returns the bytes sent or the errno.
    public static func send(_ fd: Int32, _ bytes: [UInt8], flags: Int32) -> Result<Int, SystemError> {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, flags) }
        return n < 0 ? .failure(SystemError("send of \(bytes.count) bytes")) : .success(n)
    }

    /// SO_PEERCRED: the process at the other end and its effective user
    /// and group when the connection was made (for a listener, its own
    /// when it began to listen).
    public static func peerCredentials(_ fd: Int32) throws -> (pid: Int32, uid: UInt32, gid: UInt32) {
        let bytes = try bytesOption(fd, level: SOL_SOCKET, name: SO_PEERCRED, size: 12)
        guard bytes.count == 12 else { throw SystemError("SO_PEERCRED of \(bytes.count) bytes", errno: EINVAL) }
        return (bytes.le(Int32.self, at: 0), bytes.le(UInt32.self, at: 4), bytes.le(UInt32.self, at: 8))
    }

    /// recv(2) of one message of at most `count` bytes (fewer at its end,
    /// none when the peer closed), retried when a signal interrupts it.
    public static func receive(_ fd: Int32, count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return Array(buffer.prefix(n)) }
            if errno != EINTR { throw SystemError("recv of \(count) bytes") }
        }
    }

    /// Whether `fd` has something to read (or its end) within
    /// `milliseconds`.
    public static func isReadable(_ fd: Int32, within milliseconds: Int32) -> Bool {
        var wanted = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&wanted, 1, milliseconds) == 1
    }
}
