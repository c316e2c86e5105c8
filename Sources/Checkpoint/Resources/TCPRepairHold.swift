import Glibc
import Ptrace

/// The sockets of established connections a dump put in TCP repair mode,
/// where they send nothing while their state is read. A dump that kills
/// the tree keeps them there, so they close without a FIN or RST and the
/// peer keeps its end for the restore; one that lets the tree run on
/// (--leave-running, or any failure) takes them out again, silently, with
/// SO_REUSEADDR as it was (leaving repair mode clears it).
public final class TCPRepairHold: @unchecked Sendable {
    private struct Held {
        /// crtool's own copy of the socket.
        var fd: Int32
        var reuseAddress: Int32
        /// Where the connection stood when the dump read it, and whose it is.
        var read: (position: TCPStreamPosition, what: String)?
    }

    private var held: [UInt64: Held] = [:]
    /// How many connections the dump carries (held in repair mode).
    var count: Int { held.count }
    /// Socket inodes whose packets the lock holds.
    private var packetsHeld = Set<UInt64>()
    /// Listeners (socket inodes) whose new connections the lock holds back.
    private var listenersHeld = Set<UInt64>()
    /// Network namespaces of the tree's whose veth devices the lock holds
    /// (NetworkLock.holdNamespace), each with a pid in it.
    private var namespacesHeld: [(id: UInt64, pid: Int32)] = []
    /// Where the connections' packets are held until the restore; nil
    /// with --network-lock skip.
    let lock: NetworkLock?

    /// `lock` may outlive the hold: a dump that tries again while a
    /// listener's waiting connections are taken keeps it standing.
    init(lock: NetworkLock?) {
        self.lock = lock
    }

    /// Whether resume() or release() ended the hold.
    private var settled = false

    deinit { if !settled { resume() } }

    /// Holds the packets of every established connection the frozen
    /// processes `pids` have, in one nft run, before any is read.
    func holdPackets(ofConnectionsIn pids: [Int32]) throws {
        guard let lock else { return }
        let found = try TreeTCPConnections.held(by: pids)
        try lock.hold(Array(found.connections.values), listening: Array(found.listeners.values))
        packetsHeld.formUnion(found.connections.keys)
        listenersHeld.formUnion(found.listeners.keys)
        for (id, pid, devices) in try Self.namespacesWithDevices(of: pids) {
            try lock.holdNamespace(id, of: pid, devices: devices)
            namespacesHeld.append((id, pid))
        }
    }

    /// The network namespaces of the tree's own (by id, with a pid in
    /// each) that have devices beyond their loopback, and those devices.
    private static func namespacesWithDevices(of pids: [Int32]) throws -> [(UInt64, Int32, [String])] {
        var seen: Set<UInt64> = []
        var found: [(UInt64, Int32, [String])] = []
        let fresh = try FreshNetworkNamespace.state.get().devices
        for pid in pids {
            guard let id = try? NamespaceKind.net.id(pid: pid), id != NamespaceCheck.own[.net], seen.insert(id).inserted else { continue }
            let devices = try NamespaceEntry.run(in: .net, of: pid) { try Loopback.deviceNames() }.filter { !fresh.contains($0) }
            if !devices.isEmpty { found.append((id, pid, devices)) }
        }
        return found
    }

    /// The table holding the devices of network namespace `id`, if any.
    func table(ofNamespace id: UInt64) -> String? {
        guard let lock, namespacesHeld.contains(where: { $0.id == id }) else { return nil }
        return lock.table(inNamespace: id)
    }

    /// The table holding back new connections to the listener `inode`, if any.
    func lockTable(forListener inode: UInt64) -> String? {
        listenersHeld.contains(inode) ? lock?.table : nil
    }

    /// Puts the socket `fd` (crtool's copy; socket inode `inode`) in repair
    /// mode until the dump ends; once per socket. `lock`: where its packets
    /// are held (FileDumpContext.packetLock), nil for none.
    func hold(_ fd: Int32, inode: UInt64, local: SocketAddress, remote: SocketAddress, lock: NetworkLock?) throws {
        guard held[inode] == nil else { return }
        // Packets first, so nothing arrives once the socket is read. A
        // socket no descriptor showed (one in flight in a unix socket's
        // queue) gets an nft run of its own.
        if let lock, !packetsHeld.contains(inode) {
            try lock.hold([NetworkLock.Connection(local: local, remote: remote)])
            packetsHeld.insert(inode)
        }
        let reuse = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR)
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard own >= 0 else { throw SystemError("duplicating a socket to hold in repair mode") }
        do {
            try TCPRepair.enable(own)
        } catch {
            close(own)
            throw error
        }
        held[inode] = Held(fd: own, reuseAddress: reuse)
        DeathGuard.shared.resumeAtDeath(socket: own, inode: inode, reuseAddress: reuse)
    }

    /// Notes where the connection stood when its state was read.
    func remember(_ inode: UInt64, at position: TCPStreamPosition, what: String) {
        held[inode]?.read = (position, what)
    }

    /// A socket in repair mode sends nothing but still takes what arrives
    /// (and acknowledges it). Called last before the kill: a connection
    /// that moved since it was read fails the dump, and the tree runs on
    /// with every byte, rather than die having acknowledged bytes the
    /// image lacks.
    public func requireUnmoved() throws {
        for h in held.values {
            if let r = h.read, try TCPStreamPosition.read(h.fd) != r.position {
                throw CheckpointError("\(r.what) took packets during the dump; dump again when its peer is quiet")
            }
        }
    }

    /// Out of repair mode without a window probe, for a tree that runs on.
    /// Returns what could not be put back, for the dump to report.
    @discardableResult
    public func resume(keepingLock: Bool = false) -> [String] {
        settled = true
        var problems: [String] = []
        for (inode, h) in held {
            do {
                try TCPRepair.disable(h.fd, probe: false)
                if h.reuseAddress != 0 { try Sockets.setIntOption(h.fd, level: SOL_SOCKET, name: SO_REUSEADDR, h.reuseAddress) }
            } catch {
                problems.append("socket:[\(inode)]: \(error)")
            }
            close(h.fd)
            DeathGuard.shared.forget(socket: inode)
        }
        held = [:]
        guard !keepingLock else { return problems }
        do {
            try lock?.release()
        } catch {
            problems.append("\(error)")
        }
        for (id, pid) in namespacesHeld {
            do {
                try lock?.releaseNamespace(id, of: pid)
            } catch {
                problems.append("\(error)")
            }
        }
        namespacesHeld = []
        return problems
    }

    /// For a tree that was killed: the sockets close in repair mode, and
    /// their packets stay held until the restore.
    public func release() {
        settled = true
        for (inode, h) in held {
            close(h.fd)
            DeathGuard.shared.forget(socket: inode)
        }
        held = [:]
        DeathGuard.shared.settle()
        lock?.handOverToRestore()
        // Gone with their namespaces, cut off with their veth pairs, or,
        // in a namespace left out that outlives the tree, the restore's.
        for (id, _) in namespacesHeld {
            if let table = lock?.table(inNamespace: id) { DeathGuard.shared.forget(table: table) }
        }
    }
}

/// Where a connection's byte streams stand: the ends of both queues and
/// their lengths. Equal positions mean nothing arrived and nothing was
/// acknowledged in between.
struct TCPStreamPosition: Equatable {
    var sendEnd: UInt32
    var receiveEnd: UInt32
    var sendQueue: Int
    var unsent: Int
    var receiveQueue: Int

    static func read(_ fd: Int32) throws -> TCPStreamPosition {
        let lengths = try TCPRepair.queueLengths(fd)
        return TCPStreamPosition(sendEnd: try TCPRepair.sequence(fd, .send), receiveEnd: try TCPRepair.sequence(fd, .receive),
                                 sendQueue: lengths.send, unsent: lengths.unsent, receiveQueue: lengths.receive)
    }
}
