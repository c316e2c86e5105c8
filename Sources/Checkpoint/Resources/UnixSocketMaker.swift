import Foundation
import Glibc
import Ptrace

/// Makes unix sockets again in crtool, each once for the whole restore:
/// the socket made for an inode is kept in FileRestoreContext.shared (and
/// open until the restore ends), and every descriptor of it gets a copy.
struct UnixSocketMaker {
    let context: FileRestoreContext

    private static func key(_ inode: UInt64) -> String { "unix-socket:\(inode)" }

    private func made(_ inode: UInt64) -> Int32? {
        context.shared[Self.key(inode)] as? Int32
    }

    private func keep(_ fd: Int32, for inode: UInt64) {
        context.registry.keep(fd)
        context.shared[Self.key(inode)] = fd
    }

    /// A new crtool descriptor of the socket `state.socket`; the caller owns it.
    func descriptor(for state: UnixSocketState, what: String) throws -> Int32 {
        let me = state.socket
        if made(me.inode) == nil {
            if let peer = state.peer {
                try makePair(me, peer)
            } else if let outside = state.externalPeer {
                try makeConnectedOut(me, to: outside, what: what)
            } else if me.peerInode == 0 {
                try makeOrphan(me)
            } else {
                try makeAlone(me, what: what)
            }
        }
        let copy = dup(made(me.inode)!)
        if copy < 0 { throw SystemError("dup of a restored socket") }
        return copy
    }

    /// Both ends of a connection. Named datagram sockets are bound and
    /// connected to each other by name; everything else is a socketpair
    /// (a stream connection made by connect/accept comes back unnamed).
    private func makePair(_ a: UnixSocketEnd, _ b: UnixSocketEnd) throws {
        let fa: Int32, fb: Int32
        if a.type == .datagram, let na = a.name.flatMap(address), let nb = b.name.flatMap(address) {
            fa = try Sockets.create(family: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue))
            keep(fa, for: a.inode)
            fb = try Sockets.create(family: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue))
            keep(fb, for: b.inode)
            try bind(fa, a.name!, to: na)
            try bind(fb, b.name!, to: nb)
            try connect(fa, to: nb)
            try connect(fb, to: na)
        } else if let seenA = a.peerCredentials, let seenB = b.peerCredentials,
                  let pair = try CredentialedPair(context: context).make(type: Self.socketType(a.type), first: seenA, second: seenB) {
            (fa, fb) = pair
            keep(fa, for: a.inode)
            keep(fb, for: b.inode)
        } else {
            (fa, fb) = try Sockets.pair(type: Self.socketType(a.type))
            keep(fa, for: a.inode)
            keep(fb, for: b.inode)
        }
        try whenFilesAreMade(a, b) {
            try fill(a, on: fa, from: fb)
            try fill(b, on: fb, from: fa)
            try Self.finish(a, on: fa)
            try Self.finish(b, on: fb)
        }
    }

    /// Runs `work` (filling queues, then the state that would stop more
    /// sends) now, or once every process has its descriptors when a file
    /// in flight must be taken from one of them. crtool keeps the sockets
    /// open until then; processes already hold the same sockets.
    private func whenFilesAreMade(_ ends: UnixSocketEnd..., work: @escaping () throws -> Void) throws {
        let held = ends.contains { $0.inFlight?.contains { $0.files.contains { $0.heldBy != nil } } ?? false }
        if held {
            context.registry.afterAllFiles(work)
        } else {
            try work()
        }
    }

    /// A connected socket whose peer was closed before the dump: a pair
    /// whose other end is filled from and then closed, as the peer was.
    private func makeOrphan(_ me: UnixSocketEnd) throws {
        let (fd, other) = try Sockets.pair(type: Self.socketType(me.type))
        keep(fd, for: me.inode)
        // Closed once the queue is filled: the socket sees its peer gone.
        try whenFilesAreMade(me) {
            defer { close(other) }
            try fill(me, on: fd, from: other)
            try Self.finish(me, on: fd)
        }
    }

    /// A socket with no peer: unbound, bound or listening. Datagrams that
    /// waited in a bound socket's queue are sent to it again, from an
    /// unnamed socket (their senders' addresses are not kept).
    private func makeAlone(_ me: UnixSocketEnd, what: String) throws {
        let fd = try Sockets.create(family: AF_UNIX, type: Self.socketType(me.type))
        keep(fd, for: me.inode)
        if let name = me.name, let address = address(name) {
            try bind(fd, name, to: address)
            if me.listening {
                try Sockets.listen(fd, backlog: Int32(clamping: me.backlog ?? 128))
            }
            if !me.queue.isEmpty {
                let sender = try Sockets.create(family: AF_UNIX, type: Self.socketType(me.type))
                context.registry.keep(sender)
                try connect(sender, to: address)
                try whenFilesAreMade(me) {
                    try fill(me, on: fd, from: sender)
                    try Self.finish(me, on: fd)
                }
                return
            }
        } else if !me.queue.isEmpty {
            throw CheckpointError("\(what) is an unnamed, unconnected unix socket with data queued; nothing could have sent it")
        }
        try Self.finish(me, on: fd)
    }

    /// A datagram socket connected to a named socket outside the image:
    /// made as it was (bound, if it had a name) and connected to that
    /// name again. The dump saved none with datagrams waiting.
    private func makeConnectedOut(_ me: UnixSocketEnd, to peer: UnixSocketName, what: String) throws {
        try makeAlone(me, what: what)
        guard let address = address(peer) else {
            throw CheckpointError("\(what) was connected to a unix socket outside the image whose name the image does not hold whole")
        }
        let e = Sockets.connect(made(me.inode)!, address)
        if e != 0 {
            throw CheckpointError("\(what) was connected to \(address), outside the image, and cannot be connected to it again: "
                + ErrnoNames.name(e))
        }
    }

    /// Puts `end`'s queued data into its receive queue by sending it from
    /// its peer `sender`, each message whole and in order. The sender's
    /// buffer is widened for the time of the fill, since data sent in one
    /// piece may be accounted differently from the original writes.
    private func fill(_ end: UnixSocketEnd, on fd: Int32, from sender: Int32) throws {
        guard !end.queue.isEmpty else { return }
        let total = end.queuedBytes
        let old = try Sockets.intOption(sender, level: SOL_SOCKET, name: SO_SNDBUF)
        try SocketOptionSet.setBuffer(sender, option: SO_SNDBUF, bytes: Int32(clamping: 2 * (total + end.queue.count * 1024 + 65536)))
        defer { try? SocketOptionSet.setBuffer(sender, option: SO_SNDBUF, bytes: old) }
        let flags = Int32(MSG_DONTWAIT | MSG_NOSIGNAL)
        let files = Dictionary((end.inFlight ?? []).map { ($0.message, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, message) in end.queue.enumerated() {
            let bytes = [UInt8](message)
            // Files in flight go again with the first bytes of their message.
            var rights = try files[i].map { try FilesInFlight.descriptors($0, context: context) } ?? []
            defer { rights.forEach { close($0) } }
            var sent = 0
            repeat {
                switch Sockets.send(sender, Array(bytes[sent...]), rights: rights, flags: flags) {
                case .success(let n):
                    sent += n
                    rights.forEach { close($0) }
                    rights = []
                case .failure(let e):
                    throw CheckpointError("cannot queue \(bytes.count) bytes again on unix socket:[\(end.inode)]: \(e)")
                }
            } while sent < bytes.count && end.type == .stream
        }
    }

    /// Options, shutdown state and peek offset, once the queue is filled.
    static func finish(_ end: UnixSocketEnd, on fd: Int32) throws {
        try SocketOptionSet.apply(end.options, to: fd)
        switch end.shutdown & 3 {
        case 1: try Sockets.shutdown(fd, how: Int32(SHUT_RD))
        case 2: try Sockets.shutdown(fd, how: Int32(SHUT_WR))
        case 3: try Sockets.shutdown(fd, how: Int32(SHUT_RDWR))
        default: break
        }
        if end.peekOffset >= 0 {
            try Sockets.setIntOption(fd, level: SOL_SOCKET, name: SO_PEEK_OFF, end.peekOffset)
        }
    }

    private func address(_ name: UnixSocketName) -> SocketAddress? {
        if let path = name.resolvedPath { return .unixPath(path) }
        if let abstract = name.abstract, let bytes = UnixSocketName.unescape(abstract) { return .unixAbstract(bytes) }
        return nil
    }

    private func connect(_ fd: Int32, to address: SocketAddress) throws {
        let e = Sockets.connect(fd, address)
        if e != 0 { throw SystemError("connecting a restored unix socket to \(address)", errno: e) }
    }

    /// Binds to the saved name. A socket file left at the path by the
    /// dumped process is removed first; a live socket or any other file
    /// there stops the restore.
    private func bind(_ fd: Int32, _ name: UnixSocketName, to address: SocketAddress) throws {
        if case .unixPath(let path) = address {
            // The name a socket has is the path bind(2) was given: one
            // that leads elsewhere in crtool's namespace would be another.
            let reached = try context.hostPath(path, for: "a unix socket's file")
            guard MountedPath.lexical(reached) == MountedPath.lexical(path) else {
                throw CheckpointError("pid \(context.pid) has a unix socket bound to \(path), which its mount namespace has from "
                    + "\(reached); crtool binds sockets from its own namespace, where the socket would be named that instead")
            }
            try StaleSocketFile.remove(path)
            try Sockets.bind(fd, address)
            if let mode = name.fileMode, chmod(path, mode_t(mode)) != 0 {
                throw SystemError("chmod of socket file \(path)")
            }
            if let uid = name.fileUID, let gid = name.fileGID, chown(path, uid, gid) != 0 {
                throw SystemError("chown of socket file \(path)")
            }
        } else {
            do {
                try Sockets.bind(fd, address)
            } catch let e as SystemError where e.errno == EADDRINUSE {
                throw CheckpointError("cannot bind a unix socket to \(address) again: another socket has that name now")
            }
        }
    }

    static func socketType(_ type: UnixSocketEnd.SocketType) -> Int32 {
        switch type {
        case .stream: return Int32(SOCK_STREAM.rawValue)
        case .datagram: return Int32(SOCK_DGRAM.rawValue)
        case .seqpacket: return Int32(SOCK_SEQPACKET.rawValue)
        }
    }
}
