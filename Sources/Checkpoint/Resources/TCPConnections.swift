import Foundation
import Glibc
import Ptrace

/// Established and half-closed TCP connections, carried over with the
/// kernel's repair mode (`crtool dump --tcp-established`). The dump puts the socket in repair
/// mode (TCPRepairHold) and reads where each byte stream stands and what
/// waits in its queues; the restore makes a socket in repair mode in the
/// same place of both streams, puts the queues back, and leaves repair
/// mode only when every process is ready to run, so that an end the image
/// also holds exists before the first packet reaches it.
///
/// Between the dump and the restore the connection's port has no socket;
/// the connection's packets are held meanwhile (NetworkLock), unless the
/// dump was told not to, and then a peer that sends is reset.
enum TCPConnections {
    /// The TCP states carried over: established, and closing with the
    /// socket still held (a TIME_WAIT socket belongs to no program).
    static let states: Set<UInt8> = [TCPInfo.established, TCPInfo.finWait1, TCPInfo.finWait2, TCPInfo.closeWait, TCPInfo.lastAck,
                                     TCPInfo.closing]

    static func collect(_ fd: Int32, probe p: FileProbe, what: String, state: TCPInfo, local: SocketAddress, remote: SocketAddress,
                        context: FileDumpContext) throws -> TCPConnectionImage {
        guard let hold = context.tcpRepair else {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is a \(what) connected from \(local) to \(remote); dump with --tcp-established to carry established connections over (or --hold-external to keep them open on this host until the restore)")
        }
        try hold.hold(fd, inode: p.inode, local: local, remote: remote, lock: context.packetLock)
        // A socket in repair mode sends nothing, but takes what arrives: an
        // acknowledgement or data between the reads would tear the image.
        let described = "pid \(p.pid) fd \(p.fd), a \(what) connected to \(remote),"
        if TCPRepair.urgentByteWaiting(fd) {
            throw CheckpointError("\(described) has an urgent (out-of-band) byte the program has not read, which TCP repair mode cannot put back; dump again once the program has read it")
        }
        let before = try TCPStreamPosition.read(fd)
        // A FIN written and not yet acknowledged counts one in the send
        // queue's length (and in the unsent part while not sent), though
        // it is no byte of data.
        let stateName = state.state == TCPInfo.established ? nil : state.stateName
        let finishedSending = TCPConnectionImage.sendingFinished(in: stateName)
        let sendLength = finishedSending ? max(0, before.sendQueue - 1) : before.sendQueue
        let unsent = finishedSending ? max(0, before.unsent - 1) : before.unsent
        let sendQueue = try TCPRepair.peek(fd, .send, length: sendLength)
        let receiveQueue = try TCPRepair.peek(fd, .receive, length: before.receiveQueue)
        let negotiated = try TCPRepair.negotiated(fd)
        let timestamp = try TCPRepair.timestamp(fd)
        let window = try TCPRepair.window(fd)
        guard try TCPStreamPosition.read(fd) == before else {
            throw CheckpointError("\(described) took packets while it was read; dump again when its peer is quiet")
        }
        hold.remember(p.inode, at: before, what: described)
        return TCPConnectionImage(
            remote: InetSockets.endpoint(remote), sendSequence: before.sendEnd, receiveSequence: before.receiveEnd,
            sendQueue: Data(sendQueue), unsentBytes: UInt32(unsent), receiveQueue: Data(receiveQueue),
            mss: negotiated.mss, sack: negotiated.sack, timestamps: negotiated.timestamps,
            sendWindowScale: negotiated.windowScale?.send, receiveWindowScale: negotiated.windowScale?.receive,
            timestamp: timestamp,
            window: [window.sendWL1, window.sendWindow, window.maxWindow, window.receiveWindow, window.receiveWUP],
            networkLock: context.packetLock?.table, state: stateName)
    }

    /// Puts `fd` in repair mode and binds it to the connection's local
    /// address: repair mode lets the port be shared with the listener that
    /// accepted the connection, and with nothing else that is bound.
    static func bindInRepairMode(_ fd: Int32, _ local: SocketAddress, what: String) throws {
        try TCPRepair.enable(fd)
        do {
            try Sockets.bind(fd, local)
        } catch let e as SystemError where e.errno == EADDRINUSE {
            throw CheckpointError("cannot restore \(what): \(local) is in use by another socket")
        }
    }

    /// Makes `fd`, a fresh TCP socket with its options set, the connection
    /// of the image (checked by ImageConsistency), still in repair mode;
    /// `whenReleasing` gets the step that takes it out and sends what was
    /// never sent.
    static func make(_ fd: Int32, _ c: TCPConnectionImage, local: SocketAddress, reuseAddress: Bool, what: String,
                     registry: OpenFileRegistry) throws {
        let remote = try InetSockets.address(c.remote)
        try bindInRepairMode(fd, local, what: what)
        // A FIN either way is made again at the release, where it takes
        // its sequence number; the queues start before it.
        let sendStart = c.sendSequence &- (c.finishedSending ? 1 : 0) &- UInt32(truncatingIfNeeded: c.sendQueue.count)
        let receiveEnd = c.receiveSequence &- (c.peerFinished ? 1 : 0)
        try TCPRepair.setSequence(fd, .send, sendStart)
        try TCPRepair.setSequence(fd, .receive, receiveEnd &- UInt32(truncatingIfNeeded: c.receiveQueue.count))
        let e = Sockets.connect(fd, remote)
        if e != 0 { throw SystemError("connecting \(what) to \(remote) in repair mode", errno: e) }
        try TCPRepair.setNegotiated(fd, TCPRepair.Negotiated(
            mss: c.mss, sack: c.sack, timestamps: c.timestamps,
            windowScale: c.sendWindowScale.flatMap { s in c.receiveWindowScale.map { (send: s, receive: $0) } }))
        if c.timestamps { try TCPRepair.setTimestamp(fd, c.timestamp) }
        let sent = c.sendQueue.count - Int(c.unsentBytes)
        try TCPRepair.fill(fd, .receive, with: [UInt8](c.receiveQueue))
        try TCPRepair.fill(fd, .send, with: [UInt8](c.sendQueue.prefix(sent)))
        let w = c.window
        // The window was last advertised at the end of the stream, FIN
        // included; before the FIN is taken, its edge is one further on.
        let finOffset: UInt32 = c.peerFinished ? 1 : 0
        try TCPRepair.setWindow(fd, TCPRepair.Window(sendWL1: w[0], sendWindow: w[1], maxWindow: w[2],
                                                     receiveWindow: w[3] &+ finOffset, receiveWUP: w[4] &- finOffset))

        let own = try registry.keepCopy(of: fd, what: what)
        let unsent = [UInt8](c.sendQueue.suffix(Int(c.unsentBytes)))
        // Every connection of the image is made: their packets may pass.
        if let table = c.networkLock { NetworkLock.releaseWhenRestored(table, registry: registry) }
        if c.peerFinished || c.finishedSending {
            // The FINs in the order they were (CLOSE_WAIT then LAST_ACK,
            // or FIN_WAIT1 then CLOSING), every connection's while all are
            // in repair mode: a peer in the image that left it first could
            // send its real FIN before this one took the copy.
            registry.whenReleasing(.inRepair) {
                let fin = TCPSegment(from: remote, to: local, sequence: receiveEnd, acknowledgment: sendStart,
                                     flags: TCPSegment.fin | TCPSegment.ack,
                                     window: UInt16(min(0xffff, w[1] >> UInt32(c.sendWindowScale ?? 0))))
                if c.peerFinished && !c.finishedSendingFirst { try HalfClosed.takeFIN(own, fin, what: what) }
                if c.finishedSending && unsent.isEmpty { try TCPRepair.finishSending(own) }
                if c.peerFinished && c.finishedSendingFirst { try HalfClosed.takeFIN(own, fin, what: what) }
            }
        }
        registry.whenReleasing {
            try TCPRepair.disable(own, probe: true)
            if reuseAddress { try Sockets.setIntOption(own, level: SOL_SOCKET, name: SO_REUSEADDR, 1) }
            try TCPRepair.sendAll(own, unsent, what: what)
            // Bytes never sent go before the FIN, which then goes out
            // as shutdown(2) sends it.
            if c.finishedSending && !unsent.isEmpty && shutdown(own, Int32(SHUT_WR)) != 0 {
                throw SystemError("ending the sending side of \(what) after its unsent bytes")
            }
        }
    }
}
