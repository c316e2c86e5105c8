import Glibc

/// One address of a device as RTM_GETADDR tells it.
public struct InterfaceAddress: Equatable, Sendable {
    public var index: Int32
    public var family: Int32
    public var address: [UInt8]
    public var prefixLength: UInt8
    /// RT_SCOPE_*: 0 universe, 253 link, 254 host.
    public var scope: UInt8
    /// IFA_F_* (IFA_F_PERMANENT, IFA_F_NODAD, IFA_F_NOPREFIXROUTE...).
    public var flags: UInt32
    /// IPv4's broadcast address, when the device has one.
    public var broadcast: [UInt8]?
    /// IPv4's label ("eth0:1"), when it is not the device's name.
    public var label: String?

    public init(index: Int32, family: Int32, address: [UInt8], prefixLength: UInt8, scope: UInt8 = 0, flags: UInt32 = 0,
                broadcast: [UInt8]? = nil, label: String? = nil) {
        self.index = index
        self.family = family
        self.address = address
        self.prefixLength = prefixLength
        self.scope = scope
        self.flags = flags
        self.broadcast = broadcast
        self.label = label
    }

    /// An IPv6 link-local address (fe80::/10): the kernel makes one from
    /// the MAC address as the device comes up.
    public var isIPv6LinkLocal: Bool {
        family == AF_INET6 && address.count == 16 && address[0] == 0xfe && address[1] & 0xc0 == 0x80
    }

    /// "10.0.0.2/24", "fd00::2/64".
    public var text: String { "\(IPAddressText.text(address) ?? "?")/\(prefixLength)" }
}

/// Addresses in text form, as `ip` prints and takes them.
public enum IPAddressText {
    public static func text(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return SocketAddress.inet4(address: bytes, port: 0).host
        case 16: return SocketAddress.inet6(address: bytes, port: 0, flowInfo: 0, scopeID: 0).host
        default: return nil
        }
    }

    /// The bytes of an IPv4 or IPv6 address in text form.
    public static func bytes(_ text: String) -> [UInt8]? {
        switch try? SocketAddress.inet(host: text, port: 0) {
        case .inet4(let a, _)?: return a
        case .inet6(let a, _, _, _)?: return a
        default: return nil
        }
    }

    /// "10.0.0.0/24" split into its address and prefix length, checked
    /// against the family's width.
    public static func prefix(_ text: String) -> (address: [UInt8], length: UInt8)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = bytes(String(parts[0])), let length = UInt8(parts[1]),
              Int(length) <= address.count * 8 else { return nil }
        return (address, length)
    }
}

extension RouteNetlinkSocket {
    static let newAddress: UInt16 = 20
    static let getAddress: UInt16 = 22

    /// Every address of every device of the socket's namespace.
    public func addresses() throws -> [InterfaceAddress] {
        let header = [UInt8(AF_UNSPEC), 0, 0, 0] + [UInt8].le(UInt32(0))
        return try dump(Self.getAddress, header, what: "list the network addresses").compactMap { message in
            guard message.type == Self.newAddress, message.body.count >= 8 else { return nil }
            let b = message.body
            let a = NetlinkAttributes(b, from: 8)
            let family = Int32(b[0])
            // IFA_LOCAL is the device's own IPv4 address (IFA_ADDRESS its
            // peer's on a point-to-point link); IPv6 gives IFA_ADDRESS only.
            guard let address = a[2] ?? a[1] else { return nil }
            let index = Int32(bitPattern: b.le(UInt32.self, at: 4))
            return InterfaceAddress(index: index, family: family, address: address, prefixLength: b[1], scope: b[3],
                                    flags: a.uint32(8) ?? UInt32(b[2]), broadcast: a[4], label: a.string(3))
        }
    }

    /// Adds `address` to its device. IPv6 addresses are added with
    /// IFA_F_NODAD: one restored is the one the device had, usable at once.
    public func add(_ address: InterfaceAddress, what: String) throws {
        typealias A = NetlinkAttributes
        let nodad: UInt32 = address.family == AF_INET6 ? 0x02 : 0
        let flags = (address.flags & ~UInt32(0x80 | 0x40 | 0x01)) | nodad // not PERMANENT, TENTATIVE or SECONDARY: the kernel's to say
        var body = [UInt8(truncatingIfNeeded: address.family), address.prefixLength, 0, address.scope]
            + [UInt8].le(UInt32(bitPattern: address.index))
        body += A.encode(2, address.address) + A.encode(1, address.address) + A.encode(8, flags)
        if let broadcast = address.broadcast { body += A.encode(4, broadcast) }
        if let label = address.label { body += A.encode(3, string: label) }
        try change(Self.newAddress, flags: 0x400 | 0x200, body, what: what) // NLM_F_CREATE | NLM_F_EXCL
    }
}
