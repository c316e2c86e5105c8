import Foundation
import Glibc
import Ptrace

/// Packet sockets (AF_PACKET): DHCP clients, ARP and LLDP tools, anything
/// that reads or writes whole frames. What makes one is its type and
/// ethertype, the interface it is bound to, the memberships it added
/// (promiscuous mode, multicast addresses), its packet options and
/// filter; packet_diag gives what getsockopt cannot, and the restore makes
/// the socket again in crtool, bound to the interface of the same name.
/// Frames waiting in its queue are not kept, as for UDP; frames in a
/// receive ring, which capture tools map into their memory, are
/// (`PacketRings`).
///
/// A fanout group (capture programs that spread frames over threads, as
/// suricata does) is joined again by its id once the socket is bound:
/// the first member the restore makes makes the group. A send ring
/// (PACKET_TX_RING) and a group that steers frames with a BPF program,
/// which cannot be read back, are refused, named.
enum PacketSockets: FileKind {
    static let kind = FileDescriptorImage.Kind.packetSocket

    static let level: Int32 = 263 // SOL_PACKET
    static let addMembership: Int32 = 1 // PACKET_ADD_MEMBERSHIP
    static let fanoutOption: Int32 = 18 // PACKET_FANOUT
    static let copyThreshold = SocketOptionSet.Option(name: "PACKET_COPY_THRESH", level: level, option: 7)

    /// Set before the bind, PACKET_VERSION first: the others may depend on it.
    static let options: [SocketOptionSet.Option] = [
        SocketOptionSet.Option(name: "PACKET_VERSION", level: level, option: 10),
        SocketOptionSet.Option(name: "PACKET_RESERVE", level: level, option: 12),
        SocketOptionSet.Option(name: "PACKET_AUXDATA", level: level, option: 8),
        SocketOptionSet.Option(name: "PACKET_ORIGDEV", level: level, option: 9),
        SocketOptionSet.Option(name: "PACKET_VNET_HDR", level: level, option: 15),
        SocketOptionSet.Option(name: "PACKET_LOSS", level: level, option: 14),
        SocketOptionSet.Option(name: "PACKET_TIMESTAMP", level: level, option: 17),
        SocketOptionSet.Option(name: "PACKET_QDISC_BYPASS", level: level, option: 20),
        SocketOptionSet.Option(name: "PACKET_IGNORE_OUTGOING", level: level, option: 23),
        SocketOptionSet.Option(name: "SO_MARK", level: SOL_SOCKET, option: 36),
        SocketOptionSet.Option(name: "SO_TIMESTAMPNS", level: SOL_SOCKET, option: 35),
    ] + SocketOptionSet.general

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFSOCK) && SocketProtocol.name(of: "/proc/\(p.pid)/fd/\(p.fd)") == "PACKET"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        try SocketHolders.requireHeldOnlyInImage(p, what: "a packet socket", context: context)
        let what = "pid \(p.pid) fd \(p.fd) is a packet socket (socket:[\(p.inode)])"
        let diag = try PacketSocketDiag.query(inode: p.inode)
        if diag.transmitRing != nil {
            throw CheckpointError("\(what) with a send ring (PACKET_TX_RING); crtool cannot checkpoint that yet")
        }
        func interface(_ index: Int32) throws -> String {
            guard let name = NetworkInterface.name(ofIndex: index) else {
                throw CheckpointError("\(what) on interface \(index), which has no name crtool can find")
            }
            return name
        }
        let fd = try context.local(p.fd)
        var state = PacketSocketState(type: diag.type, protocolNumber: diag.protocolNumber)
        if diag.interfaceIndex != 0 { state.interface = try interface(diag.interfaceIndex) }
        state.memberships = try diag.memberships.map {
            PacketSocketState.Membership(interface: try interface($0.interfaceIndex), type: $0.type, address: Data($0.address), count: $0.count)
        }
        state.options = SocketOptionSet.read(options, from: fd)
        if diag.copyThreshold != 0 {
            state.options.append(SocketOptionValue(name: copyThreshold.name, level: level, option: copyThreshold.option, value: Int32(bitPattern: diag.copyThreshold)))
        }
        if let filter = try SocketOptionSet.filter(of: fd, what: "pid \(p.pid) fd \(p.fd)") { state.options.append(filter) }
        if diag.fanout != nil {
            state.fanout = try fanoutRequest(of: fd, what: what)
        }
        if let geometry = diag.receiveRing {
            state.receiveRing = try PacketRings.read(fd, geometry: geometry, frameHeader: PacketFrameHeader(version: diag.version), what: what)
        }
        image.packetSocket = state
    }

    /// The group the socket is in, as PACKET_FANOUT would make it:
    /// getsockopt gives the flags above the mode (packet_diag leaves them
    /// out), where setsockopt takes them in the mode's upper byte.
    private static func fanoutRequest(of fd: Int32, what: String) throws -> UInt32 {
        let value = UInt32(bitPattern: try Sockets.intOption(fd, level: level, name: fanoutOption))
        let (id, mode, flags) = (value & 0xffff, (value >> 16) & 0xff, value >> 24)
        if mode == 6 || mode == 7 { // PACKET_FANOUT_CBPF, PACKET_FANOUT_EBPF
            throw CheckpointError("\(what) in fanout group \(id), which steers frames with a BPF program that cannot be read back; crtool cannot checkpoint that")
        }
        return id | (mode | flags << 8) << 16
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.packetSocket else {
            throw CheckpointError("fd \(f.fd) of pid \(context.pid) is a packet socket without its state in the image")
        }
        let what = "the packet socket at fd \(f.fd) of pid \(context.pid)"
        guard state.type == Int32(SOCK_RAW.rawValue) || state.type == Int32(SOCK_DGRAM.rawValue) else {
            throw CheckpointError("\(what): the image holds socket type \(state.type), which crtool does not make")
        }
        func index(of interface: String) throws -> Int32 {
            let index = NetworkInterface.index(ofName: interface)
            if index == 0 { throw CheckpointError("cannot restore \(what): this host has no interface \(interface)") }
            return index
        }
        // Made with no ethertype, so it receives nothing until it is bound
        // as the image says.
        let fd: Int32
        do {
            fd = try Sockets.create(family: AF_PACKET, type: state.type, protocol: 0)
        } catch let e as SystemError {
            throw CheckpointError("cannot make \(what): \(e.errnoName) (packet sockets need CAP_NET_RAW)")
        }
        return try MadeSocket.finish(fd, flags: f.flags, what: what) {
            try SocketOptionSet.apply(state.options, to: fd)
            if let ring = state.receiveRing { try PacketRings.make(ring, on: fd, what: what) }
            let interfaceIndex = try state.interface.map(index(of:)) ?? 0
            if state.protocolNumber != 0 || interfaceIndex != 0 {
                let address = SocketAddress.packet(protocolNumber: state.protocolNumber, interfaceIndex: interfaceIndex)
                do {
                    try Sockets.bind(fd, address)
                } catch let e as SystemError {
                    throw CheckpointError("cannot bind \(what) to \(state.interface ?? "every interface"), ethertype 0x\(String(state.protocolNumber, radix: 16)): \(e.errnoName)")
                }
            }
            for m in state.memberships {
                guard m.address.count <= 8 else {
                    throw CheckpointError("\(what): the image holds a membership address of \(m.address.count) bytes, more than packet_mreq takes")
                }
                // struct packet_mreq: ifindex, type, address length, 8 address bytes.
                let request = [UInt8].le(try index(of: m.interface)) + [UInt8].le(m.type, UInt16(m.address.count))
                    + [UInt8](m.address) + [UInt8](repeating: 0, count: 8 - m.address.count)
                for _ in 0..<min(m.count, 1024) {
                    do {
                        try Sockets.setBytesOption(fd, level: level, name: addMembership, request)
                    } catch let e as SystemError {
                        throw CheckpointError("cannot give \(what) its membership of type \(m.type) on \(m.interface): \(e.errnoName)")
                    }
                }
            }
            // A group takes only a bound socket.
            if let fanout = state.fanout {
                do {
                    try Sockets.setIntOption(fd, level: level, name: fanoutOption, Int32(bitPattern: fanout))
                } catch let e as SystemError {
                    throw CheckpointError("cannot put \(what) in fanout group \(fanout & 0xffff) (mode \((fanout >> 16) & 0xff)): \(e.errnoName)"
                        + (e.errno == EINVAL ? " (a group of that id with another mode exists here, or the socket is not bound)" : ""))
                }
            }
        }
    }
}
