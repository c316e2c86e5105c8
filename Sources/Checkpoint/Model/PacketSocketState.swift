import Foundation
import Ptrace

/// The saved state of one packet socket (see Resources/PacketSockets.swift).
public struct PacketSocketState: Codable, Equatable, Sendable {
    /// A PACKET_ADD_MEMBERSHIP the socket held, `count` times over.
    public struct Membership: Codable, Equatable, Sendable {
        public var interface: String
        /// PACKET_MR_MULTICAST (0), PROMISC (1), ALLMULTI (2), UNICAST (3).
        public var type: UInt16
        public var address: Data
        public var count: UInt32
    }

    /// SOCK_RAW or SOCK_DGRAM.
    public var type: Int32
    /// The ethertype it receives, in host order (ETH_P_ALL is 3); 0 for
    /// none yet.
    public var protocolNumber: UInt16
    /// The interface it is bound to, by name; nil for every interface.
    public var interface: String?
    public var memberships: [Membership] = []
    public var options: [SocketOptionValue] = []
    /// The receive ring the program maps (TPACKET_V3), with what it held.
    public var receiveRing: PacketRingImage?
    /// The fanout group it is in, as PACKET_FANOUT takes it: the group's
    /// id in the low 16 bits, its mode and flags above.
    public var fanout: UInt32?

    public init(type: Int32, protocolNumber: UInt16) {
        self.type = type
        self.protocolNumber = protocolNumber
    }
}
