import Glibc

/// The parts of struct tcp_info crtool judges a TCP socket by.
public struct TCPInfo: Sendable {
    /// TCP_ESTABLISHED = 1 … TCP_LISTEN = 10, TCP_CLOSE = 7.
    public var state: UInt8
    /// For a listener: connections waiting in its accept queue.
    public var acceptQueue: UInt32
    /// For a listener: its backlog (sk_max_ack_backlog).
    public var backlog: UInt32

    public static let listen: UInt8 = 10
    public static let close: UInt8 = 7
    public static let established: UInt8 = 1
    public static let synSent: UInt8 = 2
    public static let finWait1: UInt8 = 4
    public static let finWait2: UInt8 = 5
    public static let closeWait: UInt8 = 8
    public static let lastAck: UInt8 = 9
    public static let closing: UInt8 = 11

    public static func read(_ fd: Int32) throws -> TCPInfo {
        let bytes = try Sockets.bytesOption(fd, level: Int32(IPPROTO_TCP), name: 11 /* TCP_INFO */, size: 104)
        guard bytes.count >= 32 else { throw SystemError("TCP_INFO of \(bytes.count) bytes", errno: EINVAL) }
        // tcpi_unacked and tcpi_sacked hold the accept queue and the
        // backlog when the socket listens (tcp_get_info).
        return TCPInfo(state: bytes[0], acceptQueue: bytes.le(UInt32.self, at: 24), backlog: bytes.le(UInt32.self, at: 28))
    }

    public var stateName: String {
        let names = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                     "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"]
        return Int(state) < names.count ? names[Int(state)] : "state \(state)"
    }
}
