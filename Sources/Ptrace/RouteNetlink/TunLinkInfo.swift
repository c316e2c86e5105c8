/// What the tun driver tells of one of its devices in RTM_GETLINK's
/// IFLA_INFO_DATA: how it was made, who may attach to it, and how many
/// queues are attached, which only it tells (a queue's file does not
/// name the others).
public struct TunLinkInfo: Equatable, Sendable {
    /// TunDevice.tun or TunDevice.tap.
    public var type: UInt16
    /// Packets carry the 4-byte packet information header (no IFF_NO_PI).
    public var packetInformation: Bool
    public var virtioHeader: Bool
    public var persistent: Bool
    public var multiQueue: Bool
    public var owner: UInt32?
    public var group: UInt32?
    /// The queues attached to a multi-queue device; nil for another, of
    /// which the kernel does not tell (it has one at most).
    public var attachedQueues: UInt32?
    /// Queues of a multi-queue device detached with TUNSETQUEUE, whose
    /// files are open but not attached.
    public var detachedQueues: UInt32

    public init(type: UInt16, packetInformation: Bool = false, virtioHeader: Bool = false, persistent: Bool = false,
                multiQueue: Bool = false, owner: UInt32? = nil, group: UInt32? = nil, attachedQueues: UInt32? = nil,
                detachedQueues: UInt32 = 0) {
        self.type = type
        self.packetInformation = packetInformation
        self.virtioHeader = virtioHeader
        self.persistent = persistent
        self.multiQueue = multiQueue
        self.owner = owner
        self.group = group
        self.attachedQueues = attachedQueues
        self.detachedQueues = detachedQueues
    }

    /// From IFLA_TUN_*: OWNER 1, GROUP 2, TYPE 3, PI 4, VNET_HDR 5,
    /// PERSIST 6, MULTI_QUEUE 7, NUM_QUEUES 8, NUM_DISABLED_QUEUES 9.
    init(_ a: NetlinkAttributes) {
        let flag: (UInt16) -> Bool = { (a[$0]?.first ?? 0) != 0 }
        self.init(type: UInt16(a[3]?.first ?? 0), packetInformation: flag(4), virtioHeader: flag(5), persistent: flag(6),
                  multiQueue: flag(7), owner: a.uint32(1), group: a.uint32(2), attachedQueues: a.uint32(8),
                  detachedQueues: a.uint32(9) ?? 0)
    }

    /// The IFF_* flags TUNSETIFF makes such a device with.
    public var creationFlags: UInt16 {
        type | (packetInformation ? 0 : TunDevice.noPacketInformation) | (virtioHeader ? TunDevice.virtioHeader : 0)
            | (multiQueue ? TunDevice.multiQueue : 0)
    }
}
