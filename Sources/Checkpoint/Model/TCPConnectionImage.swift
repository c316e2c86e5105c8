import Foundation

/// An established or half-closed TCP connection as TCP repair mode reads
/// it: enough to make a socket in the same place of the same byte streams,
/// so that neither end sees a byte twice or misses one.
public struct TCPConnectionImage: Codable, Equatable, Sendable {
    /// The half-closed states carried over, by the kernel's names; absent
    /// for ESTABLISHED. The two sequence numbers count a FIN sent or taken
    /// as the kernel does (one each), the queues hold data only.
    public static let halfClosedStates = ["FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "LAST_ACK", "CLOSING"]

    /// The peer's address (the local one is InetSocketState.local).
    public var remote: InetEndpoint
    /// Sequence number after the last byte the program wrote.
    public var sendSequence: UInt32
    /// Sequence number after the last byte that arrived.
    public var receiveSequence: UInt32
    /// Written and not yet acknowledged by the peer, oldest first; the
    /// last `unsentBytes` of them were not even sent.
    public var sendQueue: Data
    public var unsentBytes: UInt32
    /// Arrived and not yet read by the program.
    public var receiveQueue: Data
    /// What the handshake agreed.
    public var mss: UInt32
    public var sack: Bool
    public var timestamps: Bool
    public var sendWindowScale: UInt8?
    public var receiveWindowScale: UInt8?
    /// The connection's timestamp clock (TCP_TIMESTAMP), so the peer sees
    /// it go on rather than jump back.
    public var timestamp: UInt32
    /// struct tcp_repair_window.
    public var window: [UInt32]
    /// The nftables table (family inet) holding the connection's packets
    /// since the dump; the restore removes it. Absent: not held.
    public var networkLock: String?
    /// One of `halfClosedStates`; absent when ESTABLISHED.
    public var state: String?

    /// The peer's FIN was taken (CLOSE_WAIT, LAST_ACK, CLOSING): the
    /// program reads to the end of its receive queue, then end of file.
    public var peerFinished: Bool { state == "CLOSE_WAIT" || state == "LAST_ACK" || state == "CLOSING" }
    /// The program ended its sending side (FIN_WAIT1, FIN_WAIT2, LAST_ACK,
    /// CLOSING).
    public var finishedSending: Bool { Self.sendingFinished(in: state) }

    /// Whether a connection in `state` (absent: ESTABLISHED) has sent its FIN.
    static func sendingFinished(in state: String?) -> Bool {
        state == "FIN_WAIT1" || state == "FIN_WAIT2" || state == "LAST_ACK" || state == "CLOSING"
    }
    /// Both sides' FINs crossed (CLOSING): the program's went first, so
    /// the restore gives it back before the peer's.
    public var finishedSendingFirst: Bool { state == "CLOSING" || state == "FIN_WAIT1" || state == "FIN_WAIT2" }

    /// Whether `table` could be a network lock's table: it reaches nft.
    public static func isTableName(_ table: String) -> Bool {
        !table.isEmpty && table.count <= 64 && table.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }

    /// The first field that cannot describe a connection, and why.
    public var invalidField: (field: String, reason: String)? {
        if window.count != 5 { return ("window", "holds \(window.count) numbers, not the 5 of struct tcp_repair_window") }
        if let state, !Self.halfClosedStates.contains(state) {
            return ("state", "\"\(state)\" is not one of the states crtool carries over (\(Self.halfClosedStates.joined(separator: ", ")))")
        }
        if UInt64(unsentBytes) > UInt64(sendQueue.count) {
            return ("unsentBytes", "\(unsentBytes) is more than the send queue's \(sendQueue.count) bytes")
        }
        if let table = networkLock, !Self.isTableName(table) {
            return ("networkLock", "\"\(table)\" is not a table name crtool makes")
        }
        if (sendWindowScale == nil) != (receiveWindowScale == nil) || (sendWindowScale ?? 0) > 14 || (receiveWindowScale ?? 0) > 14 {
            return ("sendWindowScale", "with receiveWindowScale, not a pair of shifts up to 14")
        }
        return nil
    }

    public init(remote: InetEndpoint, sendSequence: UInt32, receiveSequence: UInt32, sendQueue: Data, unsentBytes: UInt32,
                receiveQueue: Data, mss: UInt32, sack: Bool, timestamps: Bool, sendWindowScale: UInt8?,
                receiveWindowScale: UInt8?, timestamp: UInt32, window: [UInt32], networkLock: String? = nil, state: String? = nil) {
        self.remote = remote
        self.sendSequence = sendSequence
        self.receiveSequence = receiveSequence
        self.sendQueue = sendQueue
        self.unsentBytes = unsentBytes
        self.receiveQueue = receiveQueue
        self.mss = mss
        self.sack = sack
        self.timestamps = timestamps
        self.sendWindowScale = sendWindowScale
        self.receiveWindowScale = receiveWindowScale
        self.timestamp = timestamp
        self.window = window
        self.networkLock = networkLock
        self.state = state
    }
}
