import Glibc
import Ptrace

/// `crtool restore --tcp-close` (CRIU's flag): the image's TCP connections
/// come back reset rather than carried on, for a restore whose peers are
/// gone (an image restored long after its dump, or on another host). Each
/// is made in repair mode where it stood and handed a reset from its peer
/// at the release, so the program's next read says ECONNRESET, as if the
/// peer had reset it, instead of a connection that retransmits to nobody
/// for a quarter of an hour. A connection whose address this host lacks,
/// and one still being made, come back as fresh unconnected sockets (a
/// restarted connect starts over). The network lock is removed, so a peer
/// still there is answered with a reset too.
enum ClosedTCPConnections {
    static func make(_ fd: Int32, _ state: InetSocketState, local: SocketAddress, what: String, registry: OpenFileRegistry) throws {
        if let table = state.connection?.networkLock ?? state.connecting?.networkLock {
            NetworkLock.releaseWhenRestored(table, registry: registry)
        }
        guard let c = state.connection else { return }
        let remote = try InetSockets.address(c.remote)
        do {
            try TCPConnections.bindInRepairMode(fd, local, what: what)
        } catch {
            // Not an address of this host, or its port taken: a fresh socket.
            try TCPRepair.disable(fd, probe: false)
            return
        }
        try TCPRepair.setSequence(fd, .send, c.sendSequence)
        try TCPRepair.setSequence(fd, .receive, c.receiveSequence)
        let e = Sockets.connect(fd, remote)
        if e != 0 { throw SystemError("connecting \(what) to \(remote) in repair mode", errno: e) }
        let own = try registry.keepCopy(of: fd, what: what)
        registry.whenReleasing {
            try TCPRepair.disable(own, probe: false)
            let reset = TCPSegment(from: remote, to: local, sequence: c.receiveSequence, acknowledgment: 0, flags: TCPSegment.reset, window: 0)
            _ = try reset.deliver(to: own)
        }
    }
}
