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

    /// The family's name without NETLINK_ ("ROUTE"), for messages.
    public static func name(ofFamily family: Int32) -> String {
        let names: [Int32: String] = [
            0: "ROUTE", 1: "UNUSED", 2: "USERSOCK", 3: "FIREWALL", 4: "SOCK_DIAG", 5: "NFLOG", 6: "XFRM", 7: "SELINUX",
            8: "ISCSI", 9: "AUDIT", 10: "FIB_LOOKUP", 11: "CONNECTOR", 12: "NETFILTER", 13: "IP6_FW", 14: "DNRTMSG",
            15: "KOBJECT_UEVENT", 16: "GENERIC", 17: "SCSITRANSPORT", 18: "ECRYPTFS", 19: "RDMA", 20: "CRYPTO", 21: "SMC",
        ]
        return names[family] ?? "family \(family)"
    }

    public init(type: Int32, family: Int32) {
        self.type = type
        self.family = family
    }
}
