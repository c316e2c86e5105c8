import Glibc
import Ptrace

/// Raw IPv4 and IPv6 sockets (ping as root, routing daemons, probes) and
/// ICMP datagram sockets (ping where net.ipv4.ping_group_range lets it
/// use them, which systemd's default does for everyone). Neither holds a
/// connection the kernel keeps state for: the protocol, the address it is
/// bound to (with an ICMP socket's echo identifier as its port) and
/// connected to, its options (ICMP type filters, IP_HDRINCL, BPF filters)
/// and multicast groups make it, and the restore makes it again in
/// crtool. Packets waiting in its queue are not kept, as for UDP: a
/// network may drop them as well.
enum RawSockets: FileKind {
    static let kind = FileDescriptorImage.Kind.rawSocket

    static func recognizes(_ p: FileProbe) -> Bool {
        guard p.fileType == UInt32(S_IFSOCK), let name = SocketProtocol.name(of: "/proc/\(p.pid)/fd/\(p.fd)") else { return false }
        return ["RAW", "RAWv6", "PING", "PINGv6"].contains(name)
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
        try SocketHolders.requireHeldOnlyInImage(p, what: "a raw or ICMP socket", context: context)
        let fd = try context.local(p.fd)
        let ipv6 = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_DOMAIN) == AF_INET6
        let datagram = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_TYPE) == Int32(SOCK_DGRAM.rawValue)
        var state = RawSocketState(family: ipv6 ? .ipv6 : .ipv4, protocolNumber: try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PROTOCOL))
        if datagram { state.icmpDatagram = true }
        // getsockname gives the bound address (with an IPv6 scope) and, as
        // its port, a raw socket's protocol or an ICMP socket's echo
        // identifier; the table gives the peer.
        let local = try Sockets.localAddress(fd)
        if local.host != (ipv6 ? "::" : "0.0.0.0") || (datagram && local.port != 0) {
            state.local = InetSockets.endpoint(local)
            if !datagram { state.local?.port = 0 }
        }
        let table = (datagram ? "icmp" : "raw") + (ipv6 ? "6" : "")
        let row = try InetSocketTable.read(pid: p.pid, table: table).first(where: { $0.inode == p.inode })
        // The table lists an ICMP socket once it has an identifier, at its
        // bind or first send; one that has neither has nothing to restore
        // but its options.
        if row == nil && !datagram {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is a raw socket (socket:[\(p.inode)]) that /proc/\(p.pid)/net/\(table) does not list")
        }
        if let row, row.isConnected {
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
        let datagram = state.icmpDatagram == true
        let what = "the \(datagram ? "ICMP datagram" : "raw") socket (protocol \(state.protocolNumber)) at fd \(f.fd) of pid \(context.pid)"
        let ipv6 = state.family == .ipv6
        guard (0...255).contains(state.protocolNumber) else {
            throw CheckpointError("\(what): the image holds IP protocol \(state.protocolNumber), which is no protocol number")
        }
        let fd: Int32
        do {
            fd = try Sockets.create(family: ipv6 ? AF_INET6 : AF_INET, type: Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_RAW.rawValue),
                                    protocol: state.protocolNumber)
        } catch let e as SystemError {
            let needs = datagram ? "ICMP datagram sockets need crtool's group inside net.ipv4.ping_group_range" : "raw sockets need CAP_NET_RAW"
            throw CheckpointError("cannot make \(what): \(e.errnoName) (\(needs))")
        }
        return try MadeSocket.finish(fd, flags: f.flags, what: what) {
            try SocketOptionSet.apply(state.options, to: fd)
            if let local = state.local {
                let address = try InetSockets.address(local)
                do {
                    try Sockets.bind(fd, address)
                } catch let e as SystemError {
                    throw CheckpointError("cannot bind \(what) to \(address): \(e.errnoName)")
                }
            }
            if let groups = state.multicast {
                try MulticastGroups.join(groups, on: fd, ipv6: ipv6, what: what)
            }
            if let remote = state.remote {
                let e = Sockets.connect(fd, try InetSockets.address(remote))
                if e != 0 { throw SystemError("connecting \(what) to \(remote.host)", errno: e) }
            }
        }
    }
}
