import Glibc

/// What the kernel tells about one packet socket through sock_diag
/// (NETLINK_SOCK_DIAG, packet_diag), and nothing else does: the interface
/// it is bound to, its version and flags, the memberships it added
/// (promiscuous mode, multicast addresses), the rings it set up and its
/// fanout group. The kernel answers with every packet socket of crtool's
/// network namespace; the one with the inode is kept.
public struct PacketSocketDiag: Equatable, Sendable {
    /// A PACKET_ADD_MEMBERSHIP the socket holds, `count` times.
    public struct Membership: Equatable, Sendable {
        public var interfaceIndex: Int32
        public var count: UInt32
        /// PACKET_MR_MULTICAST (0), PROMISC (1), ALLMULTI (2), UNICAST (3).
        public var type: UInt16
        public var address: [UInt8]
    }

    /// SOCK_RAW or SOCK_DGRAM.
    public var type: Int32
    /// The ethertype it receives, in host order (ETH_P_ALL is 3).
    public var protocolNumber: UInt16
    public var inode: UInt32
    /// The interface it is bound to; 0 for every interface.
    public var interfaceIndex: Int32 = 0
    /// TPACKET_V1 (0), V2 (1) or V3 (2).
    public var version: UInt32 = 0
    public var reserve: UInt32 = 0
    public var copyThreshold: UInt32 = 0
    public var timestamp: UInt32 = 0
    /// PDI_RUNNING (1), AUXDATA (2), ORIGDEV (4), VNETHDR (8), LOSS (16).
    public var flags: UInt32 = 0
    public var memberships: [Membership] = []
    /// The receive ring (PACKET_RX_RING) the program maps, if it set one up.
    public var receiveRing: PacketRingGeometry?
    /// The send ring (PACKET_TX_RING), likewise.
    public var transmitRing: PacketRingGeometry?
    /// The fanout group and mode, when the socket joined one.
    public var fanout: UInt32?

    /// Asks the kernel about the packet socket with inode `inode`.
    public static func query(inode: UInt64) throws -> PacketSocketDiag {
        guard let found = try all().first(where: { UInt64($0.inode) == inode }) else {
            throw SystemError("packet_diag of socket inode \(inode): not listed", errno: ENOENT)
        }
        return found
    }

    /// Every packet socket of crtool's network namespace; throws where the
    /// kernel has no packet_diag (CONFIG_PACKET_DIAG).
    public static func all() throws -> [PacketSocketDiag] {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4) // NETLINK_SOCK_DIAG
        if fd < 0 { throw SystemError("netlink sock_diag socket") }
        defer { close(fd) }
        let show: UInt32 = 0x01 | 0x02 | 0x04 | 0x08 // INFO MCLIST RING_CFG FANOUT
        let request = [UInt8(AF_PACKET), 0] + [UInt8].le(UInt16(0)) + [UInt8].le(UInt32(0), show, UInt32.max, UInt32.max)
        // SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP: packet_diag only dumps.
        let header = [UInt8].le(UInt32(16 + request.count)) + [UInt8].le(UInt16(20), UInt16(0x301)) + [UInt8].le(UInt32(1), UInt32(0))
        let message = header + request
        let sent = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        if sent != message.count { throw SystemError("sending a packet_diag request") }
        var found: [PacketSocketDiag] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw SystemError("reading the packet_diag answer") }
            let (diags, done) = try parse(Array(buffer.prefix(n)))
            found += diags
            if done || n == 0 { return found }
        }
    }

    /// Reads the messages of one netlink answer: packet_diag_msg records
    /// with their attributes, until NLMSG_DONE (done) or the end of `data`.
    public static func parse(_ data: [UInt8]) throws -> (diags: [PacketSocketDiag], done: Bool) {
        var diags: [PacketSocketDiag] = []
        var offset = 0
        while offset + 16 <= data.count {
            let length = Int(data.le(UInt32.self, at: offset))
            let kind = data.le(UInt16.self, at: offset + 4)
            guard length >= 16, offset + length <= data.count else { throw SystemError("a packet_diag message of \(length) bytes", errno: EPROTO) }
            if kind == 3 { return (diags, true) } // NLMSG_DONE
            if kind == 2 { // NLMSG_ERROR
                let code = length >= 20 ? Int32(bitPattern: data.le(UInt32.self, at: offset + 16)) : -EPROTO
                throw SystemError("packet_diag", errno: -code)
            }
            guard length >= 32 else { throw SystemError("a packet_diag message of \(length) bytes", errno: EPROTO) }
            diags.append(message(Array(data[(offset + 16)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
        return (diags, false)
    }

    /// packet_diag_msg (family, type, protocol already in host order,
    /// inode, cookie) and its attributes.
    static func message(_ m: [UInt8]) -> PacketSocketDiag {
        var diag = PacketSocketDiag(type: Int32(m[1]), protocolNumber: m.le(UInt16.self, at: 2), inode: m.le(UInt32.self, at: 4))
        var offset = 16
        while offset + 4 <= m.count {
            let attrLength = Int(m.le(UInt16.self, at: offset))
            let attrType = m.le(UInt16.self, at: offset + 2)
            guard attrLength >= 4, offset + attrLength <= m.count else { break }
            let payload = Array(m[(offset + 4)..<(offset + attrLength)])
            switch attrType {
            case 0 where payload.count >= 24: // PACKET_DIAG_INFO
                diag.interfaceIndex = Int32(bitPattern: payload.le(UInt32.self, at: 0))
                diag.version = payload.le(UInt32.self, at: 4)
                diag.reserve = payload.le(UInt32.self, at: 8)
                diag.copyThreshold = payload.le(UInt32.self, at: 12)
                diag.timestamp = payload.le(UInt32.self, at: 16)
                diag.flags = payload.le(UInt32.self, at: 20)
            case 1: // PACKET_DIAG_MCLIST: packet_diag_mclist entries of 44 bytes
                diag.memberships = stride(from: 0, to: payload.count - 43, by: 44).map { at in
                    let alen = Int(min(payload.le(UInt16.self, at: at + 10), 32))
                    return Membership(interfaceIndex: Int32(bitPattern: payload.le(UInt32.self, at: at)), count: payload.le(UInt32.self, at: at + 4),
                                      type: payload.le(UInt16.self, at: at + 8), address: Array(payload[(at + 12)..<(at + 12 + alen)]))
                }
            case 2: // PACKET_DIAG_RX_RING
                diag.receiveRing = PacketRingGeometry(diag: payload)
            case 3: // PACKET_DIAG_TX_RING
                diag.transmitRing = PacketRingGeometry(diag: payload)
            case 4 where payload.count >= 4: // PACKET_DIAG_FANOUT
                diag.fanout = payload.le(UInt32.self, at: 0)
            default:
                break
            }
            offset += (attrLength + 3) & ~3
        }
        return diag
    }
}
