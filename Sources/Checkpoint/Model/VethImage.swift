import Glibc
import Ptrace

/// A veth device of a network namespace of the tree's whose other end is
/// in crtool's namespace: the way a container reaches the host (and,
/// through a bridge, other containers and the outside). The pair goes
/// when the namespace does, so both ends are saved and made again.
public struct VethImage: Codable, Equatable, Sendable {
    /// The end in the tree's namespace ("eth0").
    public var inside: NetworkDeviceImage
    /// The end in crtool's namespace ("veth1a2b3c").
    public var outside: NetworkDeviceImage
    /// The bridge the outside end was a port of, by name.
    public var outsideMaster: String?
    /// Routes of crtool's namespace through the outside end other than
    /// those the kernel makes from its addresses: they go with the device.
    public var outsideRoutes: [RouteImage]?

    public init(inside: NetworkDeviceImage, outside: NetworkDeviceImage, outsideMaster: String? = nil, outsideRoutes: [RouteImage]? = nil) {
        self.inside = inside
        self.outside = outside
        self.outsideMaster = outsideMaster
        self.outsideRoutes = outsideRoutes
    }
}

/// One end of a veth pair: what `ip link` and `ip address` show of it.
public struct NetworkDeviceImage: Codable, Equatable, Sendable {
    public var name: String
    /// "02:42:ac:11:00:02": kept, so that neighbours' ARP caches and
    /// addresses made from it (IPv6 link-local) stay right.
    public var hardwareAddress: String
    public var mtu: UInt32
    public var up: Bool
    /// Its addresses but the IPv6 link-local one the kernel makes from the
    /// MAC address as the device comes up.
    public var addresses: [AddressImage]

    public init(name: String, hardwareAddress: String, mtu: UInt32, up: Bool, addresses: [AddressImage]) {
        self.name = name
        self.hardwareAddress = hardwareAddress
        self.mtu = mtu
        self.up = up
        self.addresses = addresses
    }
}

/// An address of a device.
public struct AddressImage: Codable, Equatable, Sendable {
    /// "10.0.0.2/24", "fd00::2/64".
    public var address: String
    /// RT_SCOPE_* (0 global, 253 link, 254 host).
    public var scope: UInt8
    /// IFA_F_* as the dump read them (NOPREFIXROUTE, MANAGETEMPADDR...).
    public var flags: UInt32
    public var broadcast: String?
    public var label: String?

    public init(address: String, scope: UInt8 = 0, flags: UInt32 = 0, broadcast: String? = nil, label: String? = nil) {
        self.address = address
        self.scope = scope
        self.flags = flags
        self.broadcast = broadcast
        self.label = label
    }
}

/// A route of a namespace's main table that the kernel did not make.
public struct RouteImage: Codable, Equatable, Sendable {
    /// "inet" or "inet6".
    public var family: String
    /// "default" or "10.1.0.0/16".
    public var destination: String
    public var gateway: String?
    /// The device it goes out of, by name.
    public var device: String?
    /// RTPROT_* (3 boot for `ip route add`, 4 static, 16 dhcp...).
    public var protocolNumber: UInt8
    public var scope: UInt8
    /// RTN_* (1 unicast, 6 blackhole, 7 unreachable, 8 prohibit).
    public var type: UInt8
    public var metric: UInt32?
    public var preferredSource: String?

    public init(family: String, destination: String, gateway: String? = nil, device: String? = nil, protocolNumber: UInt8 = 3,
                scope: UInt8 = 0, type: UInt8 = 1, metric: UInt32? = nil, preferredSource: String? = nil) {
        self.family = family
        self.destination = destination
        self.gateway = gateway
        self.device = device
        self.protocolNumber = protocolNumber
        self.scope = scope
        self.type = type
        self.metric = metric
        self.preferredSource = preferredSource
    }

    /// As `ip route` prints it, for messages.
    public var text: String {
        var parts = [destination]
        if let gateway { parts += ["via", gateway] }
        if let device { parts += ["dev", device] }
        return parts.joined(separator: " ")
    }
}
