import Glibc
import Ptrace

/// TCP connections still being made (SYN_SENT), carried over with
/// `--tcp-established`: the dump holds the socket in repair mode (so it
/// closes without a word when the tree is killed) and keeps where it
/// connects and its SYN's sequence number; the restore binds a socket to
/// the same port with that sequence number and connects it at the
/// release, once its packets may pass: the same SYN goes out again, and
/// the program, blocked in connect or polling for it, sees the
/// connection complete when the peer answers.
enum TCPConnecting {
    static func collect(_ fd: Int32, probe p: FileProbe, what: String, local: SocketAddress, ipv6: Bool,
                        context: FileDumpContext) throws -> TCPConnectingImage {
        // getpeername says ENOTCONN until the handshake is done; the
        // namespace's table knows the peer.
        let table = ipv6 ? "tcp6" : "tcp"
        guard let row = try InetSocketTable.read(pid: p.pid, table: table).first(where: { $0.inode == p.inode }) else {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is a \(what) connecting from \(local) that /proc/\(p.pid)/net/\(table) does not list")
        }
        let remote = row.remote
        guard let hold = context.tcpRepair else {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is a \(what) connecting from \(local) to \(remote); dump with --tcp-established to carry connections over (or --hold-external to keep them open on this host until the restore)")
        }
        try hold.hold(fd, inode: p.inode, local: local, remote: remote, lock: context.packetLock)
        let position = try TCPStreamPosition.read(fd)
        hold.remember(p.inode, at: position, what: "pid \(p.pid) fd \(p.fd), a \(what) connecting to \(remote),")
        // The SYN took one sequence number: the send queue ends after it.
        return TCPConnectingImage(remote: InetSockets.endpoint(remote), initialSequence: position.sendEnd &- 1,
                                  networkLock: context.packetLock?.table)
    }

    /// Makes `fd`, a fresh TCP socket with its options set, the connection
    /// being made of the image; it connects at the release.
    static func make(_ fd: Int32, _ c: TCPConnectingImage, local: SocketAddress, what: String, registry: OpenFileRegistry) throws {
        let remote = try InetSockets.address(c.remote)
        try TCPConnections.bindInRepairMode(fd, local, what: what)
        // connect(2) keeps a sequence number set before it as the SYN's.
        try TCPRepair.setSequence(fd, .send, c.initialSequence)
        try TCPRepair.disable(fd, probe: false)
        let own = try registry.keepCopy(of: fd, what: what)
        if let table = c.networkLock { NetworkLock.releaseWhenRestored(table, registry: registry) }
        registry.whenReleasing {
            // The program's descriptor shares the file flags: connect
            // without blocking crtool, whatever the program asked for.
            let flags = fcntl(own, F_GETFL)
            _ = fcntl(own, F_SETFL, flags | O_NONBLOCK)
            let e = Sockets.connect(own, remote)
            _ = fcntl(own, F_SETFL, flags)
            guard e == 0 || e == EINPROGRESS else { throw SystemError("connecting \(what) to \(remote) again", errno: e) }
        }
    }
}
