/// One TCP or UDP socket: a listener, a bound or unbound socket, a UDP
/// socket (connected or not), or an established TCP connection (dumped
/// with --tcp-established, see `connection`).
public struct InetSocketState: Codable, Equatable, Sendable {
    public enum Family: String, Codable, Sendable { case ipv4, ipv6 }
    public enum TransportProtocol: String, Codable, Sendable { case tcp, udp }

    public var family: Family
    public var transport: TransportProtocol
    /// The bound address; nil when the socket was never bound.
    public var local: InetEndpoint?
    /// The address a UDP socket is connected to.
    public var remote: InetEndpoint?
    public var listening: Bool = false
    /// listen(2)'s backlog as the kernel keeps it (already capped by somaxconn).
    public var backlog: UInt32?
    public var options: [SocketOptionValue] = []
    /// Multicast groups a UDP socket has joined (absent: none).
    public var multicast: [MulticastMembership]?
    /// The datagrams waiting in a UDP socket's queue, in order (absent:
    /// none, or not kept).
    public var queue: [QueuedDatagramImage]?
    /// An established TCP connection's sequence numbers, queues and
    /// agreed options (absent for every other socket).
    public var connection: TCPConnectionImage?
    /// A TCP connection still being made (SYN_SENT).
    public var connecting: TCPConnectingImage?
    /// For a listener: the nftables table (family inet) that has held back
    /// new connections to it since the dump; the restore removes it.
    public var networkLock: String?

    public init(family: Family, transport: TransportProtocol) {
        self.family = family
        self.transport = transport
    }
}

/// An IP address in text form and a port.
public struct InetEndpoint: Codable, Equatable, Sendable {
    public var host: String
    public var port: UInt16
    /// The interface of a link-local IPv6 address.
    public var scopeID: UInt32?

    public init(host: String, port: UInt16, scopeID: UInt32? = nil) {
        self.host = host
        self.port = port
        self.scopeID = scopeID
    }
}

/// A multicast group a socket joined, on an interface named as this host
/// names it (found again by name on restore), with its source filter.
public struct MulticastMembership: Codable, Equatable, Sendable {
    public var interface: String
    public var group: String
    /// MCAST_INCLUDE (true) or MCAST_EXCLUDE; absent for a plain join,
    /// which excludes no source.
    public var includeSources: Bool?
    public var sources: [String]?

    public init(interface: String, group: String) {
        self.interface = interface
        self.group = group
    }
}
