import Glibc

/// The kernel's TCP repair mode (TCP_REPAIR, CAP_NET_ADMIN): a socket in
/// it sends nothing, lets its sequence numbers, queues, negotiated options
/// and window be read and written, and closes without a FIN or RST. Each
/// call names what it did when it fails.
public enum TCPRepair {
    /// The queue TCP_REPAIR_QUEUE selects.
    public enum Queue: Int32, Sendable {
        case receive = 1 // TCP_RECV_QUEUE
        case send = 2 // TCP_SEND_QUEUE
    }

    /// struct tcp_repair_window.
    public struct Window: Equatable, Sendable {
        public var sendWL1: UInt32
        public var sendWindow: UInt32
        public var maxWindow: UInt32
        public var receiveWindow: UInt32
        public var receiveWUP: UInt32

        public init(sendWL1: UInt32, sendWindow: UInt32, maxWindow: UInt32, receiveWindow: UInt32, receiveWUP: UInt32) {
            self.sendWL1 = sendWL1
            self.sendWindow = sendWindow
            self.maxWindow = maxWindow
            self.receiveWindow = receiveWindow
            self.receiveWUP = receiveWUP
        }
    }

    /// What the handshake settled (TCP_INFO's tcpi_options and scales, and
    /// the MSS), given back with TCP_REPAIR_OPTIONS.
    public struct Negotiated: Equatable, Sendable {
        public var mss: UInt32
        public var sack: Bool
        public var timestamps: Bool
        /// Send and receive window scale shifts, when scaling was agreed.
        public var windowScale: (send: UInt8, receive: UInt8)?

        public init(mss: UInt32, sack: Bool, timestamps: Bool, windowScale: (send: UInt8, receive: UInt8)?) {
            self.mss = mss
            self.sack = sack
            self.timestamps = timestamps
            self.windowScale = windowScale
        }

        public static func == (a: Negotiated, b: Negotiated) -> Bool {
            a.mss == b.mss && a.sack == b.sack && a.timestamps == b.timestamps
                && a.windowScale?.send == b.windowScale?.send && a.windowScale?.receive == b.windowScale?.receive
        }
    }

    private static let tcp = Int32(IPPROTO_TCP)
    private static let repairOption: Int32 = 19 // TCP_REPAIR
    private static let queueOption: Int32 = 20 // TCP_REPAIR_QUEUE
    private static let sequenceOption: Int32 = 21 // TCP_QUEUE_SEQ
    private static let optionsOption: Int32 = 22 // TCP_REPAIR_OPTIONS
    private static let timestampOption: Int32 = 24 // TCP_TIMESTAMP
    private static let windowOption: Int32 = 29 // TCP_REPAIR_WINDOW

    public static func enable(_ fd: Int32) throws {
        try set(fd, repairOption, 1, "turning TCP repair mode on")
    }

    /// Leaves repair mode. With `probe`, the socket sends a window probe at
    /// once, so the peer learns the window of a socket made anew; without,
    /// it says nothing (a socket that only paused for a dump). Leaving
    /// repair mode also clears SO_REUSEADDR, which the caller puts back.
    public static func disable(_ fd: Int32, probe: Bool) throws {
        try set(fd, repairOption, probe ? 0 : -1, "turning TCP repair mode off")
    }

    /// The sequence number at the end of `queue`: the next byte to be
    /// written (send) or expected (receive).
    public static func sequence(_ fd: Int32, _ queue: Queue) throws -> UInt32 {
        try select(fd, queue)
        return UInt32(bitPattern: try Sockets.intOption(fd, level: tcp, name: sequenceOption))
    }

    /// Where `queue` starts; only before connect.
    public static func setSequence(_ fd: Int32, _ queue: Queue, _ value: UInt32) throws {
        try select(fd, queue)
        try set(fd, sequenceOption, Int32(bitPattern: value), "setting the \(queue) queue's sequence number")
    }

    /// Every byte of `queue`, `length` of them (sent and unacknowledged,
    /// unsent, or received and unread), left where they are.
    public static func peek(_ fd: Int32, _ queue: Queue, length: Int) throws -> [UInt8] {
        guard length > 0 else { return [] }
        try select(fd, queue)
        var buffer = [UInt8](repeating: 0, count: length)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        if n < 0 { throw SystemError("reading the TCP \(queue) queue of \(length) bytes") }
        guard n == length else {
            throw SystemError("reading the TCP \(queue) queue: \(n) of its \(length) bytes came", errno: EIO)
        }
        return buffer
    }

    /// Appends `bytes` to `queue`: the send queue's as sent and waiting
    /// for their acknowledgement, the receive queue's as arrived.
    public static func fill(_ fd: Int32, _ queue: Queue, with bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try select(fd, queue)
        try sendAll(fd, bytes, what: "the TCP \(queue) queue")
    }

    /// send(2) until every byte is taken, on a blocking or non-blocking
    /// socket; a socket that has taken nothing for `patience` seconds is
    /// an error (its buffer, set as the dumped one was, should hold them).
    public static func sendAll(_ fd: Int32, _ bytes: [UInt8], what: String, patience: Int32 = 10) throws {
        var offset = 0
        var waited: Int32 = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN && waited < patience {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = Glibc.poll(&p, 1, 1000)
                    waited += 1
                    continue
                }
                throw SystemError("writing \(bytes.count - offset) of \(bytes.count) bytes to \(what)")
            }
            offset += n
            waited = 0
        }
    }

    /// Ends the sending side in repair mode: the FIN goes in the send queue
    /// as sent and waiting for its acknowledgement (the peer has it, or
    /// the FIN is sent again when the timer fires), and the socket moves
    /// on as shutdown(2) moves it (ESTABLISHED to FIN_WAIT1, CLOSE_WAIT to
    /// LAST_ACK).
    public static func finishSending(_ fd: Int32) throws {
        try select(fd, .send)
        if Glibc.shutdown(fd, Int32(SHUT_WR)) != 0 { throw SystemError("shutting the sending side in repair mode") }
        try select(fd, nil)
    }

    /// Whether an urgent (out-of-band) byte waits for the program's
    /// recv(MSG_OOB), or has been announced and not yet arrived: repair
    /// mode can fill the queues but not the urgent pointer, so such a
    /// byte cannot be put back.
    public static func urgentByteWaiting(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_OOB | MSG_PEEK | MSG_DONTWAIT))
        return n == 1 || (n < 0 && errno == EAGAIN)
    }

    /// Bytes in the send queue, of them not yet sent, and in the receive queue.
    public static func queueLengths(_ fd: Int32) throws -> (send: Int, unsent: Int, receive: Int) {
        func ask(_ request: UInt, _ what: String) throws -> Int {
            var value: Int32 = 0
            if ioctl(fd, request, &value) != 0 { throw SystemError("ioctl(\(what))") }
            return Int(value)
        }
        return (try ask(0x5411, "SIOCOUTQ"), try ask(0x894B, "SIOCOUTQNSD"), try ask(0x541B, "SIOCINQ"))
    }

    public static func negotiated(_ fd: Int32) throws -> Negotiated {
        let info = try Sockets.bytesOption(fd, level: tcp, name: 11 /* TCP_INFO */, size: 104)
        guard info.count >= 8 else { throw SystemError("TCP_INFO of \(info.count) bytes", errno: EINVAL) }
        let options = info[5]
        let mss = UInt32(bitPattern: try Sockets.intOption(fd, level: tcp, name: 2 /* TCP_MAXSEG */))
        return Negotiated(mss: mss, sack: options & 2 != 0, timestamps: options & 1 != 0,
                          windowScale: options & 4 != 0 ? (send: info[6] & 0xF, receive: info[6] >> 4) : nil)
    }

    /// TCP_REPAIR_OPTIONS: struct tcp_repair_opt { code, value } each.
    public static func setNegotiated(_ fd: Int32, _ n: Negotiated) throws {
        var pairs: [(UInt32, UInt32)] = [(2, n.mss)] // TCPOPT_MAXSEG
        if n.sack { pairs.append((4, 0)) } // TCPOPT_SACK_PERM
        if n.timestamps { pairs.append((8, 0)) } // TCPOPT_TIMESTAMP
        if let scale = n.windowScale { pairs.append((3, UInt32(scale.send) | UInt32(scale.receive) << 16)) } // TCPOPT_WINDOW
        let bytes = pairs.flatMap { [UInt8].le($0.0) + [UInt8].le($0.1) }
        do {
            try Sockets.setBytesOption(fd, level: tcp, name: optionsOption, bytes)
        } catch let e as SystemError {
            throw SystemError("setting the TCP options the connection agreed (TCP_REPAIR_OPTIONS)", errno: e.errno)
        }
    }

    /// The socket's TCP timestamp clock.
    public static func timestamp(_ fd: Int32) throws -> UInt32 {
        UInt32(bitPattern: try Sockets.intOption(fd, level: tcp, name: timestampOption))
    }

    public static func setTimestamp(_ fd: Int32, _ value: UInt32) throws {
        try set(fd, timestampOption, Int32(bitPattern: value), "setting the TCP timestamp clock")
    }

    public static func window(_ fd: Int32) throws -> Window {
        let b = try Sockets.bytesOption(fd, level: tcp, name: windowOption, size: 20)
        guard b.count == 20 else { throw SystemError("TCP_REPAIR_WINDOW of \(b.count) bytes", errno: EINVAL) }
        return Window(sendWL1: b.le(UInt32.self, at: 0), sendWindow: b.le(UInt32.self, at: 4), maxWindow: b.le(UInt32.self, at: 8),
                      receiveWindow: b.le(UInt32.self, at: 12), receiveWUP: b.le(UInt32.self, at: 16))
    }

    public static func setWindow(_ fd: Int32, _ w: Window) throws {
        let bytes = [w.sendWL1, w.sendWindow, w.maxWindow, w.receiveWindow, w.receiveWUP].flatMap { [UInt8].le($0) }
        do {
            try Sockets.setBytesOption(fd, level: tcp, name: windowOption, bytes)
        } catch let e as SystemError {
            throw SystemError("setting the TCP window (TCP_REPAIR_WINDOW)", errno: e.errno)
        }
    }

    /// TCP_REPAIR_QUEUE: the queue the next sequence, peek or fill is of;
    /// nil for none (TCP_NO_QUEUE).
    private static func select(_ fd: Int32, _ queue: Queue?) throws {
        try set(fd, queueOption, queue?.rawValue ?? 0, "selecting \(queue.map { "the \($0) queue" } ?? "no queue")")
    }

    private static func set(_ fd: Int32, _ name: Int32, _ value: Int32, _ what: String) throws {
        do {
            try Sockets.setIntOption(fd, level: tcp, name: name, value)
        } catch let e as SystemError {
            throw SystemError(what, errno: e.errno)
        }
    }
}
