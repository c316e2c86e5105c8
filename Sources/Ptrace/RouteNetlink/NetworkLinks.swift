import Glibc

/// One network device as RTM_GETLINK tells it.
public struct NetworkLink: Equatable, Sendable {
    public var index: Int32
    public var name: String
    /// IFF_* flags (IFF_UP among them).
    public var flags: UInt32
    public var mtu: UInt32
    /// The MAC address of an Ethernet device; empty for the loopback.
    public var hardwareAddress: [UInt8]
    /// What made it ("veth", "bridge", "dummy"...; nil for the loopback
    /// and devices of hardware).
    public var kind: String?
    /// For a veth: its peer's index, in the peer's namespace.
    public var peerIndex: Int32?
    /// The id this namespace gives the namespace of the device's peer,
    /// when that is another namespace (IFLA_LINK_NETNSID).
    public var peerNamespaceID: Int32?
    /// The bridge or bond it is a port of.
    public var masterIndex: Int32?
    /// For a tun or tap device: what its driver tells of it.
    public var tun: TunLinkInfo?

    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }

    public init(index: Int32, name: String, flags: UInt32 = 0, mtu: UInt32 = 0, hardwareAddress: [UInt8] = [], kind: String? = nil,
                peerIndex: Int32? = nil, peerNamespaceID: Int32? = nil, masterIndex: Int32? = nil) {
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.hardwareAddress = hardwareAddress
        self.kind = kind
        self.peerIndex = peerIndex
        self.peerNamespaceID = peerNamespaceID
        self.masterIndex = masterIndex
    }

    /// The address as `ip link` prints it ("02:42:ac:11:00:02").
    public static func text(ofHardwareAddress bytes: [UInt8]) -> String {
        bytes.map { b in let h = String(b, radix: 16); return h.count == 1 ? "0" + h : h }.joined(separator: ":")
    }

    /// The bytes of "02:42:ac:11:00:02"; nil for anything else.
    public static func hardwareAddress(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        return bytes.count == 6 ? bytes : nil
    }
}

/// What a veth pair is made with: the end made where the request is sent
/// and the end placed in another namespace.
public struct VethEnd: Sendable {
    public var name: String
    public var hardwareAddress: [UInt8]
    public var mtu: UInt32

    public init(name: String, hardwareAddress: [UInt8], mtu: UInt32) {
        self.name = name
        self.hardwareAddress = hardwareAddress
        self.mtu = mtu
    }
}

extension RouteNetlinkSocket {
    static let newLink: UInt16 = 16
    static let deleteLink: UInt16 = 17
    static let getLink: UInt16 = 18
    static let getNamespaceID: UInt16 = 90

    /// Every device of the socket's namespace, in index order.
    public func links() throws -> [NetworkLink] {
        try dump(Self.getLink, Self.linkHeader(), what: "list the network devices").compactMap { message in
            message.type == Self.newLink ? Self.link(message.body) : nil
        }.sorted { $0.index < $1.index }
    }

    /// struct ifinfomsg: family, type, index, flags and the flags to change.
    static func linkHeader(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) -> [UInt8] {
        [UInt8(AF_UNSPEC), 0] + [UInt8].le(UInt16(0)) + [UInt8].le(UInt32(bitPattern: index), flags, change)
    }

    static func link(_ body: [UInt8]) -> NetworkLink? {
        guard body.count >= 16 else { return nil }
        let a = NetlinkAttributes(body, from: 16)
        let info = a[18].map { NetlinkAttributes($0, from: 0) } // IFLA_LINKINFO
        let index = Int32(bitPattern: body.le(UInt32.self, at: 4))
        let peer = a.int32(5) // IFLA_LINK
        var link = NetworkLink(index: index, name: a.string(3) ?? "", flags: body.le(UInt32.self, at: 8), mtu: a.uint32(4) ?? 0,
                               hardwareAddress: a[1] ?? [], kind: info?.string(1), peerIndex: peer == index ? nil : peer,
                               peerNamespaceID: a.int32(37), masterIndex: a.int32(10))
        if link.kind == "tun", let data = info?[2] { link.tun = TunLinkInfo(NetlinkAttributes(data, from: 0)) } // IFLA_INFO_DATA
        return link
    }

    /// The id this socket's namespace gives the namespace `fd` is open on,
    /// assigning one if it has none (as the kernel does when it shows a
    /// device whose peer is there).
    public func namespaceID(of fd: Int32) throws -> Int32 {
        let what = "find the id of a network namespace"
        let header = [UInt8(AF_UNSPEC), 0, 0, 0]
        let answer = try ask(Self.getNamespaceID, header + NetlinkAttributes.encode(3, UInt32(bitPattern: fd)), what: what) // NETNSA_FD
        guard answer.body.count >= 4, let id = NetlinkAttributes(answer.body, from: 4).int32(1) else { // NETNSA_NSID
            throw SystemError(what, errno: EPROTO)
        }
        return id
    }

    /// Makes a veth pair: `near` in this socket's namespace, `far` in the
    /// network namespace `farNamespace` is open on. Both start down.
    public func makeVethPair(near: VethEnd, far: VethEnd, farNamespace: Int32) throws {
        typealias A = NetlinkAttributes
        let peer = Self.linkHeader() + A.encode(3, string: far.name) + A.encode(1, far.hardwareAddress) + A.encode(4, far.mtu)
            + A.encode(28, UInt32(bitPattern: farNamespace)) // IFLA_NET_NS_FD
        let info = A.encode(1, string: "veth") + A.nested(2, A.nested(1, peer)) // IFLA_INFO_KIND, IFLA_INFO_DATA { VETH_INFO_PEER }
        let body = Self.linkHeader() + A.encode(3, string: near.name) + A.encode(1, near.hardwareAddress) + A.encode(4, near.mtu)
            + A.nested(18, info)
        try change(Self.newLink, flags: 0x400 | 0x200, body, what: "make the veth pair \(near.name) and \(far.name)") // NLM_F_CREATE | NLM_F_EXCL
    }

    /// Sets a device up (or down), and makes it a port of the device
    /// `master` when given.
    public func setLink(_ index: Int32, up: Bool, master: Int32? = nil, what: String) throws {
        var body = Self.linkHeader(index: index, flags: up ? UInt32(IFF_UP) : 0, change: UInt32(IFF_UP))
        if let master { body += NetlinkAttributes.encode(10, UInt32(bitPattern: master)) }
        try change(Self.newLink, body, what: what)
    }

    /// Gives a device its MAC address (when it has one) and MTU.
    public func setLink(_ index: Int32, hardwareAddress: [UInt8]?, mtu: UInt32, what: String) throws {
        var body = Self.linkHeader(index: index) + NetlinkAttributes.encode(4, mtu) // IFLA_MTU
        if let hardwareAddress { body += NetlinkAttributes.encode(1, hardwareAddress) } // IFLA_ADDRESS
        try change(Self.newLink, body, what: what)
    }

    public func deleteLink(_ index: Int32, what: String) throws {
        try change(Self.deleteLink, Self.linkHeader(index: index), what: what)
    }
}
