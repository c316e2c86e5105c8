import Glibc
import Ptrace

/// Connected unix sockets whose peers' credentials (SO_PEERCRED) are the
/// ones the image recorded rather than crtool's. The kernel sets them when
/// a connection is made, from whoever makes it, and never after: a
/// socketpair gives both ends its maker's; connect gives the connecting
/// end the listener's (as it listened) and the accepted end the
/// connector's. So the pair is made by the processes themselves, with the
/// effective user and group switched to the recorded ones: a socketpair in
/// one process when both ends saw the same peer, else a listener (on a
/// fresh abstract name) in the process the first end saw and a connect
/// from the process the second end saw. crtool takes the sockets
/// (pidfd_getfd) and closes them in the processes; the pair then goes on
/// as one crtool made.
///
/// A recorded pid that is no process of the image is stood in for by the
/// process being restored: a live process of the tree rather than crtool.
struct CredentialedPair {
    let context: FileRestoreContext

    /// crtool's descriptors of two connected sockets of `type`: the first
    /// sees `first` as its peer, the second `second`. nil when the
    /// kernel cannot make that pair (two datagram ends that saw different
    /// peers never had a connection the kernel records).
    func make(type: Int32, first: PeerCredentials, second: PeerCredentials) throws -> (Int32, Int32)? {
        if first == second { return try socketpair(type: type, as: first) }
        guard type != Int32(SOCK_DGRAM.rawValue) else { return nil }
        return try connected(type: type, listener: first, connector: second)
    }

    private func socketpair(type: Int32, as who: PeerCredentials) throws -> (Int32, Int32) {
        let (pid, inj) = injector(for: who.pid)
        let what = "a unix socketpair made by pid \(pid) as uid \(who.uid)"
        let out = try inj.stage([UInt8](repeating: 0, count: 8))
        let r = try EffectiveIdentity.run(uid: who.uid, gid: who.gid, inj: inj, for: what) {
            try inj.call(Syscall.socketpair, UInt64(AF_UNIX), UInt64(type), 0, out)
        }
        if r < 0 { throw CheckpointError("\(what) failed: \(ErrnoNames.name(Int32(-r)))") }
        var reader = LittleEndianReader(try inj.memory.read(at: out, count: 8))
        let remote: (Int32, Int32) = (reader.read(), reader.read())
        defer { closeIn(inj, remote.0, remote.1) }
        let first = try copy(remote.0, from: pid)
        do {
            return (first, try copy(remote.1, from: pid))
        } catch {
            close(first)
            throw error
        }
    }

    private func connected(type: Int32, listener: PeerCredentials, connector: PeerCredentials) throws -> (Int32, Int32) {
        let name = Array("crtool-pair-\(getpid())-\(UInt64.random(in: 0...UInt64.max))".utf8)
        let address = [UInt8].le(UInt16(AF_UNIX)) + [0] + name
        let (listeningPid, listening) = injector(for: listener.pid)
        let what = "a unix listener made by pid \(listeningPid) as uid \(listener.uid)"
        let l = Int32(try listening.checked("socket for \(what)", Syscall.socket, UInt64(AF_UNIX), UInt64(type), 0))
        let lLocal: Int32
        do {
            defer { closeIn(listening, l) }
            lLocal = try copy(l, from: listeningPid)
            do {
                try Sockets.bind(lLocal, .unixAbstract(name))
                let listened = try EffectiveIdentity.run(uid: listener.uid, gid: listener.gid, inj: listening, for: what) {
                    try listening.call(Syscall.listen, UInt64(l), 1)
                }
                if listened < 0 { throw CheckpointError("\(what) could not listen: \(ErrnoNames.name(Int32(-listened)))") }
            } catch {
                close(lLocal)
                throw error
            }
        }
        defer { close(lLocal) }

        let (connectingPid, connecting) = injector(for: connector.pid)
        let whoConnects = "a unix connection made by pid \(connectingPid) as uid \(connector.uid)"
        let c = Int32(try connecting.checked("socket for \(whoConnects)", Syscall.socket, UInt64(AF_UNIX), UInt64(type), 0))
        defer { closeIn(connecting, c) }
        let staged = try connecting.stage(address)
        let connectedResult = try EffectiveIdentity.run(uid: connector.uid, gid: connector.gid, inj: connecting, for: whoConnects) {
            try connecting.call(Syscall.connect, UInt64(c), staged, UInt64(address.count))
        }
        let cLocal = try copy(c, from: connectingPid)
        if connectedResult < 0 {
            close(cLocal)
            throw CheckpointError("\(whoConnects) could not connect: \(ErrnoNames.name(Int32(-connectedResult)))")
        }
        do {
            return (cLocal, try Sockets.accept(lLocal))
        } catch {
            close(cLocal)
            throw error
        }
    }

    /// The injector of the process with `pid` when it is one of the
    /// image's, else of the process being restored.
    private func injector(for pid: Int32) -> (Int32, RemoteSyscall) {
        if let inj = context.registry.injectors[pid] { return (pid, inj) }
        return (context.pid, context.inj)
    }

    /// crtool's copy of the process's descriptor `fd`.
    private func copy(_ fd: Int32, from pid: Int32) throws -> Int32 {
        try PidFD(pid: pid).duplicate(fd)
    }

    /// Closes the process's own descriptors of sockets crtool has taken.
    private func closeIn(_ inj: RemoteSyscall, _ fds: Int32...) {
        for fd in fds { _ = try? inj.call(Syscall.close, UInt64(fd)) }
    }
}
