import Glibc
import Ptrace

/// How crtool gives descriptors to a process born inside a user namespace
/// of the tree (the first process of a PID namespace that namespace owns,
/// and its descendants). Every other restored process takes them itself,
/// with pidfd_getfd on the pidfd of crtool it inherited; that needs
/// CAP_SYS_PTRACE over crtool, which no process inside a user namespace
/// has. So such a process inherits at 3, in place of the pidfd, one end
/// of a socket pair crtool keeps both ends of (`handedEnd`): crtool sends
/// each descriptor on its own end (SCM_RIGHTS), and an injected recvmsg
/// takes it, at the lowest free number, as pidfd_getfd would have.
/// One pair serves the whole restore, as the processes are made one at a
/// time and each takes every message sent for it before the next is sent;
/// what a failed restore leaves in flight goes with the pair.
final class DescriptorCourier {
    /// crtool's end, where descriptors are sent.
    private let sendingEnd: Int32
    /// The end the processes inherit; crtool keeps it to hand it on.
    let handedEnd: Int32

    /// Bytes a receive takes in the scratch area: msghdr, iovec, the
    /// control buffer for one descriptor, the one byte of data.
    static let stagedBytes = 104
    /// Descriptors in flight at most before they are taken: each holds
    /// memory of the sending socket until it is.
    static let inFlightLimit = 128

    private static let msgCmsgCloexec: UInt64 = 0x4000_0000

    init() throws {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw SystemError("socketpair for handing descriptors into user namespaces", pid: getpid())
        }
        (sendingEnd, handedEnd) = (ends[0], ends[1])
        crtoolUserNamespace = try NamespaceKind.user.ownID()
        var room: Int32 = 8 << 20
        _ = setsockopt(sendingEnd, SOL_SOCKET, SO_SNDBUFFORCE, &room, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(sendingEnd)
        close(handedEnd)
    }

    /// Whether the process `pid` must be given descriptors by message:
    /// whether it is in another user namespace than crtool's. No process
    /// takes one after it entered its own (`UserNamespaceMaker`), so one
    /// in another was born there.
    func isNeeded(for pid: Int32) throws -> Bool {
        try NamespaceKind.user.id(pid: pid) != crtoolUserNamespace
    }

    private let crtoolUserNamespace: UInt64

    /// Sends crtool's `local` (which stays crtool's to close).
    func send(_ local: Int32, to pid: Int32) throws {
        if case .failure(let e) = Sockets.send(sendingEnd, [1], rights: [local], flags: Int32(MSG_NOSIGNAL)) {
            throw SystemError("sending a descriptor for pid \(pid) (SCM_RIGHTS)", pid: pid, errno: e.errno)
        }
    }

    /// The recvmsg that takes one descriptor on `socket` in the process,
    /// with its message header staged at `address` (`stagedBytes` there).
    static func receive(on socket: Int64, stagedAt address: UInt64) -> (bytes: [UInt8], request: SyscallRequest) {
        let iov = address + 56
        let control = address + 72
        let data = address + 96
        let header = [UInt8].le(UInt64(0), UInt64(0), iov, UInt64(1), control, UInt64(24), UInt64(0))
        let bytes = header + [UInt8].le(data, UInt64(1)) + [UInt8](repeating: 0, count: 24) + [UInt8](repeating: 0, count: 8)
        return (bytes, SyscallRequest(Syscall.recvmsg, UInt64(socket), address, msgCmsgCloexec))
    }

    /// The descriptor a receive staged at `address` took, read back from
    /// its control buffer (`fetched`, `stagedBytes` long); nil when none came.
    static func received(_ fetched: [UInt8]) -> Int32? {
        guard fetched.count >= 96 else { return nil }
        let rights = SocketQueue.rights(in: Array(fetched[72..<96]))
        return rights.count == 1 ? rights[0] : nil
    }

    /// Takes one descriptor sent to the process through its socket at
    /// `socket`, unbatched; returns the process's new descriptor.
    func install(_ local: Int32, through socket: Int64, with inj: RemoteSyscall) throws -> Int64 {
        let pid = inj.tracee.pid
        try send(local, to: pid)
        let offset = inj.scratchSize - Self.stagedBytes
        let (bytes, request) = Self.receive(on: socket, stagedAt: inj.scratch + UInt64(offset))
        try inj.stage(bytes, at: offset)
        let r = try inj.call(request.nr, request.args[0], request.args[1], request.args[2])
        guard r == 1, let fd = Self.received(try inj.fetch(at: offset, count: Self.stagedBytes)) else {
            throw r < 0 ? SystemError("taking a descriptor from crtool with recvmsg", pid: pid, errno: Int32(-r))
                : CheckpointError("recvmsg in pid \(pid) took \(r) bytes and no descriptor from crtool")
        }
        return Int64(fd)
    }
}
