import Glibc
import Ptrace

/// Files the tree shares with processes outside it, which a restore on
/// this host keeps best by keeping them open meanwhile: a pipe or FIFO an
/// outside process holds an end of, a socket it holds too, a unix socket
/// connected to one of its sockets, a client whose connection waits in a
/// listener's queue, listeners, whose clients then wait in their queues
/// instead of being refused, bound UDP sockets, whose datagrams wait too,
/// and, unless --tcp-established carries them in repair mode, TCP
/// connections. With `--hold-external`
/// crtool-keeper holds them all from the dump to the restore
/// (ExternalKeeper); without it their kinds refuse them, but for
/// listeners and UDP sockets, which are bound again.
///
/// Not counted here, because the restore makes them again faithfully: a
/// listener an outside process holds too (OutsideListeners takes it back
/// from that process), and a datagram socket connected one way to a name
/// outside with nothing waiting in its queue. A stream to the journal is:
/// kept, it stays the one stream journald knows, and a line the program
/// had half written at the dump is not cut in two (JournalStreams, which
/// connects a new stream, serves dumps without the flag and other hosts).
enum SharedOutside {
    /// Who outside the image shares the file `p` is, as words for the
    /// dump's report; nil when nobody does.
    static func sharer(of p: FileProbe, context: FileDumpContext) throws -> String? {
        switch p.fileType {
        case UInt32(S_IFIFO):
            guard let outsider = PipePeers.holders(of: p, in: context.system).first(where: { !context.system.inImage($0.pid) }) else { return nil }
            return "held by \(SocketHolders.describe(SocketHolders.Holder(pid: outsider.pid, fd: outsider.fd, inImage: false)))"
        case UInt32(S_IFSOCK):
            if let outsider = SocketHolders.holders(of: [p.inode], in: context.system)[p.inode]?.first(where: { !$0.inImage }) {
                return "held by \(SocketHolders.describe(outsider))"
            }
            if InetSockets.recognizes(p) { return try inetSocket(p, context: context) }
            return try connectedOutside(p, context: context)
        default:
            return nil
        }
    }

    /// For a TCP connection (being made, established or closing) and a
    /// TCP listener, when the dump does not carry them in repair mode
    /// (--tcp-established): kept, the same connection goes on after the
    /// restore on this host, its peer none the wiser, and clients that
    /// connect while the program is an image wait in the listener's queue
    /// instead of being refused. For a bound UDP socket: kept, the
    /// datagrams that arrive meanwhile wait in its queue instead of being
    /// dropped.
    private static func inetSocket(_ p: FileProbe, context: FileDumpContext) throws -> String? {
        let fd = try context.local(p.fd)
        let proto = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PROTOCOL)
        if proto == Int32(IPPROTO_UDP) {
            let local = try Sockets.localAddress(fd)
            return local.port != 0 ? "a UDP socket bound to \(local)" : nil
        }
        guard context.tcpRepair == nil, proto == Int32(IPPROTO_TCP) else { return nil }
        let info = try TCPInfo.read(fd)
        if info.state == TCPInfo.listen {
            return info.acceptQueue > 0 ? "listening with \(info.acceptQueue) connections not yet accepted" : "listening"
        }
        guard info.state == TCPInfo.synSent || TCPConnections.states.contains(info.state) else { return nil }
        let remote = (try? Sockets.peerAddress(fd)).flatMap { $0 }.map { "\($0)" } ?? "a peer"
        return "a TCP connection (\(info.stateName)) with \(remote)"
    }

    /// For a unix socket connected to one a process outside the image
    /// holds: that process; for a connection not accepted yet, either
    /// end. A datagram socket connected one way to a name
    /// outside, with nothing waiting for it, is left to UnixSockets, which
    /// connects it to that name again.
    private static func connectedOutside(_ p: FileProbe, context: FileDumpContext) throws -> String? {
        guard UnixSockets.recognizes(p), let diag = try? UnixSocketDiag.query(inode: p.inode) else { return nil }
        if diag.isListening {
            return diag.waitingConnections > 0 ? "listening with \(diag.waitingConnections) connections not yet accepted" : "listening"
        }
        if diag.peer == 0, diag.type != Int32(SOCK_DGRAM.rawValue), diag.shutdown != 3 {
            return "connected to a listener that has not accepted the connection yet"
        }
        guard let peer = diag.peer, peer != 0 else { return nil }
        guard let outsider = SocketHolders.holders(of: [UInt64(peer)], in: context.system)[UInt64(peer)]?.first(where: { !$0.inImage }) else { return nil }
        let peerDiag = try? UnixSocketDiag.query(inode: UInt64(peer))
        if diag.type == Int32(SOCK_DGRAM.rawValue), peerDiag?.peer.map({ UInt64($0) }) != p.inode, diag.receiveQueue == 0 { return nil }
        return "connected to socket:[\(peer)] held by \(SocketHolders.describe(outsider))"
    }
}
