import Foundation
import Glibc
import Ptrace

/// Reads one unix socket as the restore must make it again, from crtool's
/// copy of a descriptor of it and the kernel's sock_diag answer. Nothing
/// is taken from the socket: its queue is peeked at.
enum UnixSocketInspector {
    /// Why a socket cannot be saved; the kind names the pid and fd.
    struct Refusal: Error {
        var what: String
    }

    static func socketType(_ type: Int32) -> UnixSocketEnd.SocketType? {
        switch type {
        case Int32(SOCK_STREAM.rawValue): return .stream
        case Int32(SOCK_DGRAM.rawValue): return .datagram
        case Int32(SOCK_SEQPACKET.rawValue): return .seqpacket
        default: return nil
        }
    }

    /// SO_PEERCRED of `fd`; nil when the kernel gives none.
    static func peerCredentials(_ fd: Int32) -> PeerCredentials? {
        guard let c = try? Sockets.peerCredentials(fd), c.pid > 0 else { return nil }
        return PeerCredentials(pid: c.pid, uid: c.uid, gid: c.gid)
    }

    /// The state of the socket `fd` (crtool's copy), held by `pid`.
    /// `resolveName`: the bound path must be found again on restore (it
    /// will be bound again), so it is checked to still be this socket's file.
    static func end(fd: Int32, diag: UnixSocketDiag, inode: UInt64, pid: Int32, resolveName: Bool) throws -> UnixSocketEnd {
        guard let type = socketType(diag.type) else { throw Refusal(what: "a unix socket of type \(diag.type)") }
        var end = UnixSocketEnd(inode: inode, type: type)
        end.listening = diag.isListening
        if end.listening {
            end.backlog = diag.sendQueue
            end.listenedAs = peerCredentials(fd)
        }
        end.name = try name(diag, pid: pid, resolve: resolveName)
        end.peerInode = diag.peer.map { UInt64($0) }
        if !end.listening, diag.peer != nil { end.peerCredentials = peerCredentials(fd) }
        end.shutdown = diag.shutdown
        end.options = SocketOptionSet.read(SocketOptionSet.unix, from: fd)
        if let filter = try SocketOptionSet.filter(of: fd, what: "unix socket \(inode) of pid \(pid)") { end.options.append(filter) }
        end.peekOffset = (try? Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PEEK_OFF)) ?? -1
        // A stream or seqpacket socket never connected (TCP_CLOSE, bound or
        // not) has no queue, and peeking at it is EINVAL.
        let unconnected = type != .datagram && diag.state == 7
        if !end.listening && !unconnected {
            let peeked: [PeekedMessage]
            switch type {
            case .stream:
                // In pieces when files are in flight: each piece ends with
                // the bytes that carry them.
                peeked = try SocketQueue.peekStreamWithRights(fd)
            case .datagram, .seqpacket:
                // A seqpacket socket that can receive no more reports an
                // empty message for ever once its queue is read.
                let ended = type == .seqpacket && diag.shutdown & 1 != 0
                peeked = try SocketQueue.peekMessagesWithRights(fd, endsAtEmpty: ended)
            }
            (end.queue, end.inFlight) = try FilesInFlight.save(peeked, queuedAt: inode)
        }
        return end
    }

    static func name(_ diag: UnixSocketDiag, pid: Int32, resolve: Bool) throws -> UnixSocketName? {
        switch diag.name {
        case .unixAbstract(let bytes):
            return UnixSocketName(abstract: UnixSocketName.escape(bytes))
        case .unixPath(let path):
            var name = UnixSocketName(path: path)
            guard resolve else { return name }
            // The name is what bind(2) was given: relative to the working
            // directory of that moment. The socket file's inode says
            // whether a path found now is still that file.
            let base = (try? ProcFile.link(path.hasPrefix("/") ? "/proc/\(pid)/root" : "/proc/\(pid)/cwd", pid: pid)) ?? "/"
            let candidate = base == "/" ? (path.hasPrefix("/") ? path : "/" + path) : base + (path.hasPrefix("/") ? "" : "/") + path
            var st = stat()
            guard stat(ReachablePath.of(candidate, pid: pid), &st) == 0, st.st_mode & S_IFMT == S_IFSOCK,
                  let fileInode = diag.fileInode, UInt32(truncatingIfNeeded: st.st_ino) == fileInode else {
                throw Refusal(what: "a unix socket bound to \(path), whose socket file was removed or replaced since")
            }
            name.resolvedPath = candidate
            name.fileMode = UInt32(st.st_mode) & 0o7777
            name.fileUID = st.st_uid
            name.fileGID = st.st_gid
            return name
        default:
            return nil
        }
    }
}
