/// The saved state of one netlink socket (see Resources/NetlinkSockets.swift).
public struct NetlinkSocketState: Codable, Equatable, Sendable {
    /// SOCK_RAW or SOCK_DGRAM (the kernel treats them alike).
    public var type: Int32
    /// The netlink family: NETLINK_ROUTE, NETLINK_KOBJECT_UEVENT, ...
    public var family: Int32
    /// The port id the socket is bound to, chosen or given by the kernel
    /// at its first send; nil for a socket never bound.
    public var portID: UInt32?
    /// Every multicast group it has joined, by number (1 and up).
    public var groups: [UInt32] = []
    /// The port id it is connected to, and the group as getpeername gives
    /// it (a mask with that group's bit), when connect(2) set either.
    public var destinationPortID: UInt32?
    public var destinationGroup: UInt32?
    public var options: [SocketOptionValue] = []

    public init(type: Int32, family: Int32) {
        self.type = type
        self.family = family
    }
}
