import Glibc
import Ptrace

/// TCP and UDP sockets over IPv4 and IPv6: TCP listeners (address, port,
/// backlog, options), bound or fresh TCP sockets, UDP sockets, bound and
/// maybe connected, and established TCP connections when the dump is
/// asked to carry them (TCPConnections). They are made again in crtool
/// and planted in the process.
///
/// A listener with connections waiting to be accepted is refused (they
/// are established connections the program has not seen yet, and no
/// socket of the program holds them), unless the network lock holds its
/// new connections back: then the dump lets the program take them and
/// tries again (Dumper). Connections still being made are carried over
/// as well (TCPConnecting). Datagrams waiting in a UDP socket's queue
/// are sent to it again (UDPQueues).
enum InetSockets: FileKind {
    static let kind = FileDescriptorImage.Kind.inetSocket

    private static let protocols = ["TCP", "TCPv6", "UDP", "UDPv6"]

    static func recognizes(_ p: FileProbe) -> Bool {
        guard p.fileType == UInt32(S_IFSOCK), let name = SocketProtocol.name(of: "/proc/\(p.pid)/fd/\(p.fd)") else { return false }
        return protocols.contains(name)
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        try SocketHolders.requireHeldOnlyInImage(p, what: "a socket", context: context)
        let fd = try context.local(p.fd)
        let domain = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_DOMAIN)
        let proto = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PROTOCOL)
        let tcp = proto == Int32(IPPROTO_TCP)
        var state = InetSocketState(family: domain == AF_INET6 ? .ipv6 : .ipv4, transport: tcp ? .tcp : .udp)
        let what = "\(tcp ? "TCP" : "UDP")\(domain == AF_INET6 ? "v6" : "") socket (socket:[\(p.inode)])"
        let local = try Sockets.localAddress(fd)
        let remote = try Sockets.peerAddress(fd)
        if local.port != 0 { state.local = endpoint(local) }
        // Before repair mode, which shows SO_REUSEADDR as forced on.
        state.options = SocketOptionSet.read(SocketOptionSet.inet(tcp: tcp, ipv6: domain == AF_INET6), from: fd)
        if tcp {
            let info = try TCPInfo.read(fd)
            switch info.state {
            case TCPInfo.listen:
                let table = context.tcpRepair?.lockTable(forListener: p.inode)
                if info.acceptQueue > 0 {
                    let message = "pid \(p.pid) fd \(p.fd) is a \(what) listening on \(local) with \(info.acceptQueue) connections waiting to be accepted; connections the program has not accepted cannot be carried over"
                    // Its new connections are held back: the program may
                    // take the waiting ones, and the dump try again.
                    throw table == nil ? CheckpointError(message + " (--hold-external keeps the listener, and them, open until the restore)")
                        : PassingState.connectionsWaiting(message) as Error
                }
                state.listening = true
                state.networkLock = table
                state.backlog = info.backlog
            case TCPInfo.close:
                break
            case TCPInfo.synSent:
                state.connecting = try TCPConnecting.collect(fd, probe: p, what: what, local: local, ipv6: domain == AF_INET6,
                                                            context: context)
            case _ where TCPConnections.states.contains(info.state):
                guard let remote else { throw SystemError("getpeername of pid \(p.pid) fd \(p.fd)", errno: ENOTCONN) }
                state.connection = try TCPConnections.collect(fd, probe: p, what: what, state: info, local: local, remote: remote,
                                                              context: context)
            default:
                let peer = remote.map { " with \($0)" } ?? ""
                throw CheckpointError("pid \(p.pid) fd \(p.fd) is a \(what) in state \(info.stateName) from \(local)\(peer); of TCP connections only those being made (SYN_SENT), established and closing ones (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING) can be carried over")
            }
        } else if let remote = remote {
            state.remote = endpoint(remote)
        }
        if let filter = try SocketOptionSet.filter(of: fd, what: "pid \(p.pid) fd \(p.fd)") { state.options.append(filter) }
        if !tcp {
            state.multicast = try MulticastGroups.read(fd, ipv6: domain == AF_INET6)
            state.queue = try UDPQueues.read(fd, state: state, what: "pid \(p.pid) fd \(p.fd), a \(what)")
        }
        image.inetSocket = state
    }

    static func endpoint(_ a: SocketAddress) -> InetEndpoint {
        var scope: UInt32?
        if case .inet6(_, _, _, let id) = a, id != 0 { scope = id }
        return InetEndpoint(host: a.host ?? "", port: a.port, scopeID: scope)
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.inetSocket else {
            throw CheckpointError("fd \(f.fd) of pid \(context.pid) is an inet socket without its state in the image")
        }
        let what = "fd \(f.fd) of pid \(context.pid)"
        let fd = try socket(like: state)
        return try MadeSocket.finish(fd, flags: f.flags, what: what) {
            try SocketOptionSet.apply(state.options, to: fd)
            if state.connection != nil || state.connecting != nil {
                // ImageConsistency made sure a connection has its local address.
                guard let endpoint = state.local else {
                    throw CheckpointError("\(what): a TCP connection without field local in the image")
                }
                let local = try address(endpoint)
                if context.registry.closesTCPConnections {
                    return try ClosedTCPConnections.make(fd, state, local: local, what: what, registry: context.registry)
                }
                if let connecting = state.connecting {
                    return try TCPConnecting.make(fd, connecting, local: local, what: what, registry: context.registry)
                }
                if let connection = state.connection {
                    let reuse = state.options.contains { $0.name == SocketOptionSet.reuseAddress.name && $0.value != 0 }
                    return try TCPConnections.make(fd, connection, local: local, reuseAddress: reuse, what: what,
                                                   registry: context.registry)
                }
            }
            if let local = state.local {
                try bind(fd, to: try address(local), state: state, what: what)
            }
            // Before the connect, which would take datagrams from its peer
            // alone: some may have come from others before it connected.
            if let queue = state.queue { try UDPQueues.putBack(queue, on: fd, state: state, what: what) }
            // The listener is back: the connections held since the dump may come.
            if let table = state.networkLock { NetworkLock.releaseWhenRestored(table, registry: context.registry) }
            if let groups = state.multicast {
                try MulticastGroups.join(groups, on: fd, ipv6: state.family == .ipv6, what: what)
            }
            if let remote = state.remote {
                let e = Sockets.connect(fd, try address(remote))
                if e != 0 { throw SystemError("connecting the UDP socket \(what) to \(remote.host):\(remote.port)", errno: e) }
            }
        }
    }

    /// A fresh socket of `state`'s family and protocol.
    private static func socket(like state: InetSocketState) throws -> Int32 {
        let tcp = state.transport == .tcp
        return try Sockets.create(family: state.family == .ipv6 ? AF_INET6 : AF_INET,
                                  type: Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue),
                                  protocol: Int32(tcp ? IPPROTO_TCP : IPPROTO_UDP))
    }

    /// Makes a socket as `open` does, with `state`'s options, binds it to
    /// `state`'s address and closes it again: whether a restore would get
    /// that address now. It does not listen, so no connection can reach it
    /// meanwhile.
    static func tryBind(_ state: InetSocketState, at local: InetEndpoint, what: String) throws {
        let fd = try socket(like: state)
        defer { close(fd) }
        try SocketOptionSet.apply(state.options, to: fd)
        try bind(fd, to: try address(local), state: state, what: what, listens: false)
    }

    /// Binds, and listens for a listener. Connections the dumped listener
    /// accepted may linger in TIME_WAIT on its port; a listener that did
    /// not ask for SO_REUSEADDR is let through them for the bind and the
    /// listen only, and the option cleared again after.
    private static func bind(_ fd: Int32, to address: SocketAddress, state: InetSocketState, what: String, listens: Bool = true) throws {
        var bound = false
        func bindAndListen() throws {
            if !bound {
                try Sockets.bind(fd, address)
                bound = true
            }
            if state.listening, listens {
                try Sockets.listen(fd, backlog: Int32(clamping: state.backlog ?? 128))
            }
        }
        let inUse = AddressInUse(what: what, address: address)
        do {
            try bindAndListen()
        } catch let e as SystemError where e.errno == EADDRINUSE {
            guard state.listening, (try? Sockets.intOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR)) == 0 else { throw inUse }
            try Sockets.setIntOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, 1)
            do {
                try bindAndListen()
            } catch let again as SystemError where again.errno == EADDRINUSE {
                throw inUse
            }
            try Sockets.setIntOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, 0)
        }
    }

    static func address(_ e: InetEndpoint) throws -> SocketAddress {
        do {
            return try SocketAddress.inet(host: e.host, port: e.port, scopeID: e.scopeID ?? 0)
        } catch {
            throw CheckpointError("the image holds an address crtool cannot read: \"\(e.host)\"")
        }
    }
}

/// The address a socket had is bound by another one on this host now.
struct AddressInUse: Error, CustomStringConvertible {
    var what: String
    var address: SocketAddress

    var description: String { "cannot restore \(what): \(address) is in use by another socket" }
}
