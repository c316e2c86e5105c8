/// The saved state of one raw IPv4 or IPv6 socket, or of an ICMP
/// datagram ("ping") socket (see Resources/RawSockets.swift).
public struct RawSocketState: Codable, Equatable, Sendable {
    public var family: InetSocketState.Family
    /// An ICMP datagram socket (SOCK_DGRAM, IPPROTO_ICMP or ICMPV6), which
    /// unprivileged ping uses; absent for a raw socket.
    public var icmpDatagram: Bool?
    /// The IP protocol it sends and receives (IPPROTO_ICMP, IPPROTO_ICMPV6,
    /// IPPROTO_RAW, ...).
    public var protocolNumber: Int32
    /// The address it is bound to; nil for any. An ICMP datagram socket's
    /// port is its echo identifier.
    public var local: InetEndpoint?
    /// The address it is connected to; nil when not connected.
    public var remote: InetEndpoint?
    public var options: [SocketOptionValue] = []
    /// Multicast groups it has joined (absent: none).
    public var multicast: [MulticastMembership]?

    public init(family: InetSocketState.Family, protocolNumber: Int32) {
        self.family = family
        self.protocolNumber = protocolNumber
    }
}
