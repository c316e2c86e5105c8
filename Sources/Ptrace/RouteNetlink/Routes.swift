import Glibc

/// One route as RTM_GETROUTE tells it.
public struct Route: Equatable, Sendable {
    public var family: Int32
    public var destination: [UInt8]
    public var destinationLength: UInt8
    /// A route that matches by source too (ip route ... from) is refused
    /// by the dump; kept to say so.
    public var sourceLength: UInt8
    public var gateway: [UInt8]?
    public var outputIndex: Int32?
    public var table: UInt32
    /// RTPROT_*: 2 kernel (made from an address), 3 boot (ip route add), 4 static...
    public var protocolNumber: UInt8
    public var scope: UInt8
    /// RTN_*: 1 unicast, 2 local, 6 blackhole, 7 unreachable, 8 prohibit...
    public var type: UInt8
    public var priority: UInt32?
    public var preferredSource: [UInt8]?
    /// RTA_MULTIPATH: a route of several next hops, which the dump refuses.
    public var isMultipath: Bool

    public init(family: Int32, destination: [UInt8], destinationLength: UInt8, sourceLength: UInt8 = 0, gateway: [UInt8]? = nil,
                outputIndex: Int32? = nil, table: UInt32 = 254, protocolNumber: UInt8 = 3, scope: UInt8 = 0, type: UInt8 = 1,
                priority: UInt32? = nil, preferredSource: [UInt8]? = nil, isMultipath: Bool = false) {
        self.family = family
        self.destination = destination
        self.destinationLength = destinationLength
        self.sourceLength = sourceLength
        self.gateway = gateway
        self.outputIndex = outputIndex
        self.table = table
        self.protocolNumber = protocolNumber
        self.scope = scope
        self.type = type
        self.priority = priority
        self.preferredSource = preferredSource
        self.isMultipath = isMultipath
    }

    public static let mainTable: UInt32 = 254
    public static let localTable: UInt32 = 255
    public static let kernelProtocol: UInt8 = 2

    /// "default" or "10.1.0.0/16", as `ip route` prints it.
    public var destinationText: String {
        destinationLength == 0 ? "default" : "\(IPAddressText.text(destination) ?? "?")/\(destinationLength)"
    }
}

extension RouteNetlinkSocket {
    static let newRoute: UInt16 = 24
    static let getRoute: UInt16 = 26

    /// Every route of every table of the socket's namespace, IPv4 and IPv6.
    public func routes() throws -> [Route] {
        let header = [UInt8(AF_UNSPEC)] + [UInt8](repeating: 0, count: 11)
        return try dump(Self.getRoute, header, what: "list the routes").compactMap { message in
            guard message.type == Self.newRoute, message.body.count >= 12 else { return nil }
            let b = message.body
            let a = NetlinkAttributes(b, from: 12)
            let family = Int32(b[0])
            let width = family == AF_INET ? 4 : 16
            return Route(family: family, destination: a[1] ?? [UInt8](repeating: 0, count: width), destinationLength: b[1],
                         sourceLength: b[2], gateway: a[5], outputIndex: a.int32(4), table: a.uint32(15) ?? UInt32(b[4]),
                         protocolNumber: b[5], scope: b[6], type: b[7], priority: a.uint32(6), preferredSource: a[7],
                         isMultipath: a[9] != nil)
        }
    }

    /// Adds `route` to its table.
    public func add(_ route: Route, what: String) throws {
        typealias A = NetlinkAttributes
        let table = UInt8(truncatingIfNeeded: min(route.table, 255))
        var body = [UInt8(truncatingIfNeeded: route.family), route.destinationLength, 0, 0, table, route.protocolNumber, route.scope, route.type]
            + [UInt8].le(UInt32(0))
        if route.destinationLength > 0 { body += A.encode(1, route.destination) }
        if let gateway = route.gateway { body += A.encode(5, gateway) }
        if let index = route.outputIndex { body += A.encode(4, UInt32(bitPattern: index)) }
        if let priority = route.priority { body += A.encode(6, priority) }
        if let source = route.preferredSource { body += A.encode(7, source) }
        body += A.encode(15, route.table)
        try change(Self.newRoute, flags: 0x400 | 0x200, body, what: what) // NLM_F_CREATE | NLM_F_EXCL
    }
}
