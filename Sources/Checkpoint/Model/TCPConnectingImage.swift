/// A TCP connection still being made (SYN_SENT: a connect whose peer has
/// not answered yet, a database that is down): where it goes and the
/// sequence number of its SYN, which the restored socket sends again, so
/// that a peer that answered the first SYN knows the second.
public struct TCPConnectingImage: Codable, Equatable, Sendable {
    public var remote: InetEndpoint
    /// The SYN's (initial) sequence number.
    public var initialSequence: UInt32
    /// The nftables table holding the connection's packets since the
    /// dump; absent: not held.
    public var networkLock: String?

    /// The first field that cannot describe a connection being made, and why.
    public var invalidField: (field: String, reason: String)? {
        if let table = networkLock, !TCPConnectionImage.isTableName(table) {
            return ("networkLock", "\"\(table)\" is not a table name crtool makes")
        }
        return nil
    }

    public init(remote: InetEndpoint, initialSequence: UInt32, networkLock: String? = nil) {
        self.remote = remote
        self.initialSequence = initialSequence
        self.networkLock = networkLock
    }
}
