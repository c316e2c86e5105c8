import Ptrace

/// A descriptor of /dev/net/tun: one queue of a tun or tap device, or a
/// file opened and not attached yet. The device itself is its network
/// namespace's (`TunDeviceImage`) or, in crtool's, either a persistent one
/// that outlives the tree or one that goes with it, saved with the first
/// of its queues (`device`, `routes`); the queue is made again by
/// attaching a new file to it by name.
public struct TunFileState: Codable, Equatable, Sendable {
    /// The device it is attached to; nil for a file not attached.
    public var interface: String?
    /// IFF_* as TUNGETIFF reported them (TunDevice.persist among them).
    public var flags: UInt16
    /// TUNGETVNETHDRSZ, when not the 10 bytes a device starts with.
    public var virtioHeaderSize: Int32?
    /// TUNGETSNDBUF, when not the unlimited one a device starts with.
    public var sendBuffer: Int32?
    /// On the first queue of a device of crtool's namespace that goes
    /// with the tree: the device, which the restore makes again there,
    /// and the routes of crtool's main table through it.
    public var device: TunDeviceImage?
    public var routes: [RouteImage]?

    public init(interface: String? = nil, flags: UInt16 = 0, virtioHeaderSize: Int32? = nil, sendBuffer: Int32? = nil) {
        self.interface = interface
        self.flags = flags
        self.virtioHeaderSize = virtioHeaderSize
        self.sendBuffer = sendBuffer
    }

    public var isTap: Bool { flags & TunDevice.tap != 0 }

    /// What TUNSETIFF attaches the new file with: the device's features,
    /// not whether it persists, which is the device's (TUNSETPERSIST).
    var attachFlags: UInt16 { flags & ~TunDevice.persist }

    var invalidField: (field: String, reason: String)? {
        guard let interface else {
            return flags == 0 ? nil : ("flags", "a file not attached to a device has no flags")
        }
        if let problem = NetworkDevicesCheck.deviceNameProblem(interface) { return ("interface", problem) }
        guard flags & ~TunDevice.knownFlags == 0, (flags & (TunDevice.tun | TunDevice.tap)).nonzeroBitCount == 1 else {
            return ("flags", "0x\(String(flags, radix: 16)) is not a tun or a tap device's flags")
        }
        if let size = virtioHeaderSize, !(10...512).contains(size) {
            return ("virtioHeaderSize", "\(size) is not a virtio header size (10 to 512)")
        }
        if let bytes = sendBuffer, bytes <= 0 { return ("sendBuffer", "\(bytes) is not a send buffer size") }
        return nil
    }
}

/// A tun or tap device of a network namespace of the tree's: the device
/// as `ip link` and `ip address` show it, and how the driver made it.
/// The restore makes it again persistent, so that addresses and routes
/// can be given to it before any queue is attached; the queues' files
/// take the persistence back when it had none.
public struct TunDeviceImage: Codable, Equatable, Sendable {
    /// Its name, MTU, state and addresses; a tap's MAC address (a tun
    /// device has none: "").
    public var device: NetworkDeviceImage
    /// TunDevice.tun or TunDevice.tap, with noPacketInformation,
    /// virtioHeader and multiQueue as it was made.
    public var flags: UInt16
    public var persistent: Bool
    /// The user and group allowed to attach to it (TUNSETOWNER,
    /// TUNSETGROUP), as crtool's namespace sees them.
    public var owner: UInt32?
    public var group: UInt32?

    public init(device: NetworkDeviceImage, flags: UInt16, persistent: Bool, owner: UInt32? = nil, group: UInt32? = nil) {
        self.device = device
        self.flags = flags
        self.persistent = persistent
        self.owner = owner
        self.group = group
    }

    public var isTap: Bool { flags & TunDevice.tap != 0 }
}
