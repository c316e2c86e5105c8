import Glibc
import Ptrace

/// Unix sockets: socketpairs and connected pairs whose two ends are both
/// in the image, listeners and bound sockets (file system paths and
/// abstract names), with the data waiting in their queues.
///
/// A connected socket saves its peer's state too, so the first of the two
/// ends the restore reaches (in whichever process) makes the pair, fills
/// both queues and sets both shutdown states; the other end finds its
/// socket made already (FileRestoreContext.shared, by inode).
///
/// Files in flight (SCM_RIGHTS) travel with their messages (FilesInFlight).
///
/// A datagram socket connected to a named socket outside the image, as
/// syslog(3) connects one to /dev/log, is connected to that name again:
/// datagrams carry no connection state, and the outside socket does not
/// know its senders.
///
/// Refused at dump: a peer outside the image otherwise, a connection a
/// listener has not accepted yet, a unix socket in flight that no process
/// holds, and a datagram socket connected one way to another in the image.
enum UnixSockets: FileKind {
    static let kind = FileDescriptorImage.Kind.unixSocket

    static func recognizes(_ p: FileProbe) -> Bool {
        guard p.fileType == UInt32(S_IFSOCK) else { return false }
        return SocketProtocol.name(of: "/proc/\(p.pid)/fd/\(p.fd)")?.hasPrefix("UNIX") ?? false
    }

    /// A stream to the journal is connected by the process itself, and a
    /// connection whose peer credentials are recorded is made by the
    /// processes whose they are (CredentialedPair).
    static func opensInProcess(_ image: FileDescriptorImage) -> Bool {
        image.unixSocket?.journalStream != nil || image.unixSocket?.socket.peerCredentials != nil
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let diag = try UnixSocketDiag.query(inode: p.inode)
        let kind = UnixSocketInspector.socketType(diag.type).map { "unix \($0.rawValue) socket" } ?? "unix socket"
        func refuse(_ what: String) -> CheckpointError {
            CheckpointError("pid \(p.pid) fd \(p.fd) is a \(kind) (socket:[\(p.inode)]) \(what)")
        }
        if diag.waitingConnections > 0 {
            throw refuse("listening on \(diag.name) with \(diag.waitingConnections) connections not yet accepted; crtool cannot make those again (--hold-external keeps the listener, and them, open until the restore)")
        }
        let holders = SocketHolders.holders(of: [p.inode] + (diag.peer.map { $0 == 0 ? [] : [UInt64($0)] } ?? []), in: context.system)
        if let outside = holders[p.inode]?.first(where: { !$0.inImage }) {
            throw refuse("also held by \(SocketHolders.describe(outside)), a process outside the image; a socket can only be checkpointed together with every process that holds it (--hold-external keeps it open for that process until the restore)")
        }
        let local = try context.local(p.fd)
        do {
            let connected = diag.peer != nil
            let resolve = !connected || diag.type == Int32(SOCK_DGRAM.rawValue)
            var state = UnixSocketState(socket: try end(local, diag, inode: p.inode, pid: p.pid, resolveName: resolve, connected: connected))
            if let peer = diag.peer, peer != 0, let outside = try externalPeer(UInt64(peer), holders: holders[UInt64(peer)] ?? [], of: p, diag: diag, state: state) {
                state.externalPeer = outside
            } else if let peer = diag.peer, peer != 0,
                      let journal = try journalStream(UInt64(peer), holders: holders[UInt64(peer)] ?? [], of: p, diag: diag, state: state) {
                state.journalStream = journal
            } else if let peer = diag.peer, peer != 0 {
                state.peer = try peerEnd(UInt64(peer), holders: holders[UInt64(peer)] ?? [], of: p, context: context, refuse: refuse)
            } else if diag.peer == 0, diag.type != Int32(SOCK_DGRAM.rawValue), diag.shutdown != 3 {
                // The peer has no inode yet: it is the embryo a listener
                // holds until accept(2).
                let listener = (try? Sockets.peerAddress(local))?.map { "\($0)" } ?? "a listening socket"
                throw refuse("connected to \(listener), which has not accepted the connection yet (--hold-external keeps it open until the restore)")
            }
            image.unixSocket = state
        } catch let r as UnixSocketInspector.Refusal {
            throw refuse(r.what)
        }
    }

    /// Reads a socket; a dgram socket whose file is gone keeps its pair
    /// connection but not its name (it is restored unnamed).
    private static func end(_ fd: Int32, _ diag: UnixSocketDiag, inode: UInt64, pid: Int32, resolveName: Bool, connected: Bool) throws -> UnixSocketEnd {
        do {
            return try UnixSocketInspector.end(fd: fd, diag: diag, inode: inode, pid: pid, resolveName: resolveName)
        } catch is UnixSocketInspector.Refusal where connected {
            return try UnixSocketInspector.end(fd: fd, diag: diag, inode: inode, pid: pid, resolveName: false)
        }
    }

    /// The name to connect to again, for a datagram socket connected to a
    /// named socket that no process of the image holds and that is not
    /// connected back to it; nil for any other socket.
    private static func externalPeer(_ peer: UInt64, holders: [SocketHolders.Holder], of p: FileProbe, diag: UnixSocketDiag,
                                     state: UnixSocketState) throws -> UnixSocketName? {
        guard diag.type == Int32(SOCK_DGRAM.rawValue), !holders.contains(where: \.inImage),
              let peerDiag = try? UnixSocketDiag.query(inode: peer), peerDiag.peer.map({ UInt64($0) }) != p.inode,
              let name = try? UnixSocketInspector.name(peerDiag, pid: holders.first?.pid ?? p.pid, resolve: true),
              name.resolvedPath != nil || name.abstract != nil else { return nil }
        guard state.socket.queue.isEmpty else {
            throw UnixSocketInspector.Refusal(what: "connected to \(peerDiag.name) outside the image with \(state.socket.queue.count) datagrams from it "
                + "waiting; they could not be sent again from that socket")
        }
        return name
    }

    /// The stream to the journal a socket is, when its peer is journald's
    /// end of one, outside the image and connected back; nil otherwise.
    private static func journalStream(_ peer: UInt64, holders: [SocketHolders.Holder], of p: FileProbe, diag: UnixSocketDiag,
                                      state: UnixSocketState) throws -> JournalStream? {
        guard diag.type == Int32(SOCK_STREAM.rawValue), !holders.isEmpty, !holders.contains(where: \.inImage),
              let peerDiag = try? UnixSocketDiag.query(inode: peer), peerDiag.peer.map({ UInt64($0) }) == p.inode,
              let stream = try JournalStreams.stream(peerName: peerDiag.name, device: p.device, peer: peer) else { return nil }
        guard state.socket.queue.isEmpty else {
            throw UnixSocketInspector.Refusal(what: "a stream to the journal with \(state.socket.queuedBytes) bytes from journald waiting, which could not be sent again")
        }
        return stream
    }

    /// The peer of a connected socket, which must be in the image and
    /// connected back.
    private static func peerEnd(_ peer: UInt64, holders: [SocketHolders.Holder], of p: FileProbe, context: FileDumpContext,
                                refuse: (String) -> CheckpointError) throws -> UnixSocketEnd {
        guard let holder = holders.first(where: \.inImage), !holders.contains(where: { !$0.inImage }) else {
            let outside = holders.first { !$0.inImage }
            let own = "socket:[\(p.inode)]"
            let hint = outside == nil ? "" : " (--hold-external keeps this end open until the restore; --external \(own) leaves it out, "
                + "for restore --inherit-fd fd[N]:\(own) to give the process another in its place)"
            throw refuse("connected to socket:[\(peer)] held by \(SocketHolders.describe(outside)), which is outside the image; crtool cannot make one end of a connection again alone\(hint)")
        }
        let peerDiag = try UnixSocketDiag.query(inode: peer)
        guard peerDiag.peer.map({ UInt64($0) }) == p.inode else {
            throw refuse("connected one way to \(peerDiag.name) (socket:[\(peer)], pid \(holder.pid) fd \(holder.fd)); crtool restores only sockets connected to each other")
        }
        let copy: Int32
        var owned = false
        if holder.pid == p.pid {
            copy = try context.local(holder.fd)
        } else {
            copy = try PidFD(pid: holder.pid).duplicate(holder.fd)
            owned = true
        }
        defer { if owned { close(copy) } }
        return try end(copy, peerDiag, inode: peer, pid: holder.pid,
                       resolveName: peerDiag.type == Int32(SOCK_DGRAM.rawValue), connected: true)
    }

    /// A listener made by crtool would give its clients crtool's pid and
    /// root as their peer: it listens again from the process, as the user
    /// and group that made it listen. The process that did is the one
    /// whose pid the clients see, so a later holder with that pid listens
    /// once more.
    static func installed(_ f: FileDescriptorImage, context: FileRestoreContext) throws {
        try listenAgain(f, context: context)
    }

    static func joined(_ f: FileDescriptorImage, context: FileRestoreContext) throws {
        guard f.unixSocket?.socket.listenedAs?.pid == context.pid else { return }
        try listenAgain(f, context: context)
    }

    private static func listenAgain(_ f: FileDescriptorImage, context: FileRestoreContext) throws {
        guard let socket = f.unixSocket?.socket, socket.listening, let who = socket.listenedAs else { return }
        let what = "fd \(f.fd) of pid \(context.pid), a unix listener"
        let r = try EffectiveIdentity.run(uid: who.uid, gid: who.gid, inj: context.inj, for: "\(what) made to listen by uid \(who.uid)") {
            try context.inj.call(Syscall.listen, UInt64(f.fd), UInt64(socket.backlog ?? 128))
        }
        if r < 0 { throw CheckpointError("\(what) could not listen again in its process: \(ErrnoNames.name(Int32(-r)))") }
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.unixSocket else {
            throw CheckpointError("fd \(f.fd) of pid \(context.pid) is a unix socket without its state in the image")
        }
        if let stream = state.journalStream {
            return .remote(try JournalStreams.connect(f, state, stream, context: context))
        }
        let fd = try UnixSocketMaker(context: context).descriptor(for: state, what: "fd \(f.fd) of pid \(context.pid)")
        if fcntl(fd, F_SETFL, f.flags & O_NONBLOCK) != 0 {
            close(fd)
            throw SystemError("setting the file flags of fd \(f.fd)", pid: context.pid)
        }
        return .local(fd)
    }
}
