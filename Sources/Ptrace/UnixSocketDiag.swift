import Glibc

/// What the kernel tells about one unix socket through sock_diag
/// (NETLINK_SOCK_DIAG, unix_diag): the only place that names a connected
/// socket's peer, the connections waiting on a listener and the shutdown
/// state. Asked by inode, in crtool's network namespace.
public struct UnixSocketDiag: Equatable, Sendable {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    public var type: Int32
    /// TCP_LISTEN (10) for listeners, TCP_ESTABLISHED (1) when connected, TCP_CLOSE (7).
    public var state: UInt8
    public var inode: UInt32
    /// The bound name, if any.
    public var name: SocketAddress
    /// Inode and device of the socket file a path-bound socket made.
    public var fileInode: UInt32?
    public var fileDevice: UInt32?
    /// The peer's inode when connected; 0 when the peer is gone or is a
    /// connection a listener has not accepted yet.
    public var peer: UInt32?
    /// Connections waiting to be accepted (listeners only).
    public var pendingConnections: [UInt32]
    /// Listener: connections waiting and backlog. Others: bytes queued in and out.
    public var receiveQueue: UInt32
    public var sendQueue: UInt32
    /// RCV_SHUTDOWN (1) and SEND_SHUTDOWN (2).
    public var shutdown: UInt8

    public var isListening: Bool { state == 10 }

    /// For a listener, the connections not yet accepted, as the larger of
    /// the two counts the kernel gives (queue length, pending inodes).
    public var waitingConnections: Int {
        isListening ? max(Int(receiveQueue), pendingConnections.count) : 0
    }

    /// Asks the kernel about the unix socket with inode `inode`.
    public static func query(inode: UInt64) throws -> UnixSocketDiag {
        guard inode <= UInt64(UInt32.max) else { throw SystemError("sock_diag of socket inode \(inode)", errno: EINVAL) }
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4) // NETLINK_SOCK_DIAG
        if fd < 0 { throw SystemError("netlink sock_diag socket") }
        defer { close(fd) }
        let show: UInt32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 // NAME VFS PEER ICONS RQLEN
        let request = [UInt8(AF_UNIX), 0] + [UInt8].le(UInt16(0)) + [UInt8].le(UInt32.max, UInt32(inode), show, UInt32.max, UInt32.max)
        let header = [UInt8].le(UInt32(16 + request.count)) + [UInt8].le(UInt16(20), UInt16(1)) + [UInt8].le(UInt32(1), UInt32(0)) // SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST
        let message = header + request
        let sent = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        if sent != message.count { throw SystemError("sending a sock_diag request") }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw SystemError("reading the sock_diag answer") }
        return try parse(Array(buffer.prefix(n)), inode: inode)
    }

    /// Reads one netlink answer: an error, or a unix_diag_msg and its attributes.
    static func parse(_ data: [UInt8], inode: UInt64) throws -> UnixSocketDiag {
        guard data.count >= 16 else { throw SystemError("a sock_diag answer of \(data.count) bytes", errno: EPROTO) }
        let length = Int(data.le(UInt32.self, at: 0))
        let type = data.le(UInt16.self, at: 4)
        guard length <= data.count, length >= 16 else { throw SystemError("a sock_diag answer of \(length) bytes", errno: EPROTO) }
        if type == 2 { // NLMSG_ERROR
            let code = data.count >= 20 ? Int32(bitPattern: data.le(UInt32.self, at: 16)) : -EPROTO
            throw SystemError("sock_diag of unix socket inode \(inode)", errno: -code)
        }
        guard length >= 32 else { throw SystemError("a unix_diag message of \(length) bytes", errno: EPROTO) }
        var diag = UnixSocketDiag(type: Int32(data[17]), state: data[18], inode: data.le(UInt32.self, at: 20),
                                  name: .unnamed, pendingConnections: [], receiveQueue: 0, sendQueue: 0, shutdown: 0)
        var offset = 32
        while offset + 4 <= length {
            let attrLength = Int(data.le(UInt16.self, at: offset))
            let attrType = data.le(UInt16.self, at: offset + 2)
            guard attrLength >= 4, offset + attrLength <= length else { break }
            let payload = Array(data[(offset + 4)..<(offset + attrLength)])
            switch attrType {
            case 0: // UNIX_DIAG_NAME: sun_path as bound
                diag.name = payload.isEmpty ? .unnamed
                    : payload[0] == 0 ? .unixAbstract(Array(payload.dropFirst()))
                    : .unixPath(String(decoding: payload.prefix(while: { $0 != 0 }), as: UTF8.self))
            case 1 where payload.count >= 8: // UNIX_DIAG_VFS
                diag.fileInode = payload.le(UInt32.self, at: 0)
                diag.fileDevice = payload.le(UInt32.self, at: 4)
            case 2 where payload.count >= 4: // UNIX_DIAG_PEER
                diag.peer = payload.le(UInt32.self, at: 0)
            case 3: // UNIX_DIAG_ICONS
                diag.pendingConnections = stride(from: 0, to: payload.count - 3, by: 4).map { payload.le(UInt32.self, at: $0) }
            case 4 where payload.count >= 8: // UNIX_DIAG_RQLEN
                diag.receiveQueue = payload.le(UInt32.self, at: 0)
                diag.sendQueue = payload.le(UInt32.self, at: 4)
            case 6 where payload.count >= 1: // UNIX_DIAG_SHUTDOWN
                diag.shutdown = payload[0]
            default:
                break
            }
            offset += (attrLength + 3) & ~3
        }
        return diag
    }
}
