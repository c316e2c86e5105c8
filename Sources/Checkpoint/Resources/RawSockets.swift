import Glibc
import Ptrace

/// Raw IPv4 and IPv6 sockets: ping's ICMP sockets, routing daemons,
/// probes. A raw socket holds no connection the kernel keeps state for:
/// its protocol, the address it is bound and connected to, its options
/// (ICMP type filters, IP_HDRINCL, BPF filters) and multicast groups make
/// it, and the restore makes it again in crtool. Packets waiting in its
/// queue are not kept, as for UDP: a network may drop them as well.
enum RawSockets: FileKind {
    static let kind = FileDescriptorImage.Kind.rawSocket

    static func recognizes(_ p: FileProbe) -> Bool {
        guard p.fileType == UInt32(S_IFSOCK), let name = SocketProtocol.name(of: "/proc/\(p.pid)/fd/\(p.fd)") else { return false }
        return name == "RAW" || name == "RAWv6"
    }

    /// What a raw socket has beyond a UDP socket's options.
    static func options(ipv6: Bool) -> [SocketOptionSet.Option] {
        var list = SocketOptionSet.inet(tcp: false, ipv6: ipv6)
        if ipv6 {
            list += [
                SocketOptionSet.Option(name: "IPV6_CHECKSUM", level: Int32(IPPROTO_IPV6), option: 7),
                SocketOptionSet.Option(name: "IPV6_RECVHOPLIMIT", level: Int32(IPPROTO_IPV6), option: 51),
                // struct icmp6_filter: which ICMPv6 types are let through.
                SocketOptionSet.Option(name: "ICMPV6_FILTER", level: Int32(IPPROTO_ICMPV6), option: 1, size: 32),
            ]
        } else {
            list += [
                SocketOptionSet.Option(name: "IP_HDRINCL", level: Int32(IPPROTO_IP), option: 3),
                // struct icmp_filter: a mask of the ICMP types dropped.
                SocketOptionSet.Option(name: "ICMP_FILTER", level: 255, option: 1, size: 4),
            ]
        }
        return list
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        if let outside = SocketHolders.holders(of: [p.inode], in: context.system)[p.inode]?.first(where: { !$0.inImage }) {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is a raw socket (socket:[\(p.inode)]) also held by \(SocketHolders.describe(outside)), a process outside the image; a socket can only be checkpointed together with every process that holds it")
        }
        let fd = try context.local(p.fd)
        let ipv6 = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_DOMAIN) == AF_INET6
        var state = RawSocketState(family: ipv6 ? .ipv6 : .ipv4, protocolNumber: try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PROTOCOL))
        // getsockname gives the bound address (with an IPv6 scope) and the
        // protocol as its port; the table gives the peer.
        let local = try Sockets.localAddress(fd)
        if local.host != (ipv6 ? "::" : "0.0.0.0") {
            state.local = InetSockets.endpoint(local)
            state.local?.port = 0
        }
        guard let row = try RawSocketTable.read(pid: p.pid, ipv6: ipv6).first(where: { $0.inode == p.inode }) else {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is a raw socket (socket:[\(p.inode)]) that /proc/\(p.pid)/net/\(ipv6 ? "raw6" : "raw") does not list")
        }
        if row.isConnected {
            let peer: SocketAddress = ipv6 ? .inet6(address: row.remoteAddress, port: 0, flowInfo: 0, scopeID: 0)
                                           : .inet4(address: row.remoteAddress, port: 0)
            state.remote = InetEndpoint(host: peer.host ?? "", port: 0, scopeID: state.local?.scopeID)
        }
        state.options = SocketOptionSet.read(options(ipv6: ipv6), from: fd)
        if let filter = try SocketOptionSet.filter(of: fd, what: "pid \(p.pid) fd \(p.fd)") { state.options.append(filter) }
        state.multicast = try MulticastGroups.read(fd, ipv6: ipv6)
        image.rawSocket = state
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.rawSocket else {
            throw CheckpointError("fd \(f.fd) of pid \(context.pid) is a raw socket without its state in the image")
        }
        let what = "the raw socket (protocol \(state.protocolNumber)) at fd \(f.fd) of pid \(context.pid)"
        let ipv6 = state.family == .ipv6
        guard (0...255).contains(state.protocolNumber) else {
            throw CheckpointError("\(what): the image holds IP protocol \(state.protocolNumber), which is no protocol number")
        }
        let fd: Int32
        do {
            fd = try Sockets.create(family: ipv6 ? AF_INET6 : AF_INET, type: Int32(SOCK_RAW.rawValue), protocol: state.protocolNumber)
        } catch let e as SystemError {
            throw CheckpointError("cannot make \(what): \(e.errnoName) (raw sockets need CAP_NET_RAW)")
        }
        do {
            try SocketOptionSet.apply(state.options, to: fd)
            if let local = state.local {
                let address = try InetSockets.address(local)
                do {
                    try Sockets.bind(fd, address)
                } catch let e as SystemError {
                    throw CheckpointError("cannot bind \(what) to \(address.host ?? local.host): \(e.errnoName)")
                }
            }
            if let groups = state.multicast {
                try MulticastGroups.join(groups, on: fd, ipv6: ipv6, what: what)
            }
            if let remote = state.remote {
                let e = Sockets.connect(fd, try InetSockets.address(remote))
                if e != 0 { throw SystemError("connecting \(what) to \(remote.host)", errno: e) }
            }
            if fcntl(fd, F_SETFL, f.flags & O_NONBLOCK) != 0 { throw SystemError("setting the file flags of \(what)") }
            return .local(fd)
        } catch {
            close(fd)
            throw error
        }
    }
}
