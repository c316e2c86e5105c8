import Glibc
import Ptrace

/// Netlink sockets: a program's line to the kernel's routing tables,
/// device events, socket diagnostics or generic netlink families. What
/// makes one is its family, the port id it is bound to, the multicast
/// groups it listens to, where it is connected and its options; all of it
/// is read on crtool's copy and the socket is made again in crtool, bound
/// to the same port id, and planted in the process.
///
/// Messages waiting to be read, or a multipart answer the kernel is still
/// producing, cannot be put back into a new socket: the dump lets the
/// program read them and tries again, and refuses, naming the socket,
/// only what stays unread rather than lose a reply or an event. Families
/// whose kernel side keeps registrations by port id (netfilter queues and
/// logs, the process connector) would come back deaf: refused, named. Of
/// audit sockets, which most daemons hold to send their own records
/// (dbus-daemon, sshd, crond), only the registered audit daemon's is.
enum NetlinkSockets: FileKind {
    static let kind = FileDescriptorImage.Kind.netlinkSocket

    /// Families whose whole state is the socket's own: port id, groups
    /// and options.
    static let carried: Set<Int32> = [0, 2, 4, 6, 7, 9, 15, 16]

    static let level: Int32 = 270 // SOL_NETLINK
    static let addMembership: Int32 = 1 // NETLINK_ADD_MEMBERSHIP
    static let listMemberships: Int32 = 9 // NETLINK_LIST_MEMBERSHIPS
    /// Room for 65536 groups; a family has a few dozen.
    static let membershipBytes = 8192

    static let options: [SocketOptionSet.Option] = SocketOptionSet.general + [
        SocketOptionSet.Option(name: "SO_PASSCRED", level: SOL_SOCKET, option: SO_PASSCRED),
        SocketOptionSet.Option(name: "NETLINK_PKTINFO", level: level, option: 3),
        SocketOptionSet.Option(name: "NETLINK_BROADCAST_ERROR", level: level, option: 4),
        SocketOptionSet.Option(name: "NETLINK_NO_ENOBUFS", level: level, option: 5),
        SocketOptionSet.Option(name: "NETLINK_LISTEN_ALL_NSID", level: level, option: 8),
        SocketOptionSet.Option(name: "NETLINK_CAP_ACK", level: level, option: 10),
        SocketOptionSet.Option(name: "NETLINK_EXT_ACK", level: level, option: 11),
        SocketOptionSet.Option(name: "NETLINK_GET_STRICT_CHK", level: level, option: 12),
    ]

    static func name(ofFamily family: Int32) -> String {
        NetlinkSocketState.name(ofFamily: family)
    }

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFSOCK) && SocketProtocol.name(of: "/proc/\(p.pid)/fd/\(p.fd)") == "NETLINK"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        try SocketHolders.requireHeldOnlyInImage(p, what: "a netlink socket", context: context)
        let what = "pid \(p.pid) fd \(p.fd) is a netlink socket (socket:[\(p.inode)])"
        let fd = try context.local(p.fd)
        let family = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_PROTOCOL)
        guard carried.contains(family) else {
            throw CheckpointError("\(what) of \(name(ofFamily: family)); crtool carries netlink sockets of \(carried.sorted().map(name(ofFamily:)).joined(separator: ", ")) only: the kernel may keep registrations by port id for other families (netfilter queues and logs, process events) that a new socket would not have")
        }
        if family == 9, let daemon = try AuditStatus.daemonPID(), daemon == p.pid {
            throw CheckpointError("\(what) of AUDIT held by the registered audit daemon (pid \(daemon)); the kernel's registration of its port id cannot be made again for a new socket")
        }
        // /proc lists bound sockets only; one never bound has asked for
        // nothing, so no answer can be on its way.
        if let row = try NetlinkTable.read(pid: p.pid).first(where: { $0.inode == p.inode }), row.dumpRunning {
            throw PassingState.netlinkAnswerUnread("\(what) of \(name(ofFamily: family)) waiting for the rest of a multipart answer (a dump request is in progress) that the program did not read")
        }
        if let length = try SocketQueue.firstMessageLength(fd) {
            throw PassingState.netlinkAnswerUnread("\(what) of \(name(ofFamily: family)) with messages not yet read in its receive queue (the first of \(length) bytes); a new socket cannot be given them back")
        }
        var state = NetlinkSocketState(type: try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_TYPE), family: family)
        if case .netlink(let port, _) = try Sockets.localAddress(fd), port != 0 { state.portID = port }
        if case .netlink(let port, let groups)? = try Sockets.peerAddress(fd), port != 0 || groups != 0 {
            state.destinationPortID = port
            state.destinationGroup = groups
        }
        state.groups = groups(ofMask: try Sockets.bytesOption(fd, level: level, name: listMemberships, size: membershipBytes))
        state.options = SocketOptionSet.read(options, from: fd)
        if let filter = try SocketOptionSet.filter(of: fd, what: "pid \(p.pid) fd \(p.fd)") { state.options.append(filter) }
        image.netlinkSocket = state
    }

    /// Group numbers from NETLINK_LIST_MEMBERSHIPS' array of 32-bit
    /// masks: bit b of word w is group 32w + b + 1.
    static func groups(ofMask bytes: [UInt8]) -> [UInt32] {
        var groups: [UInt32] = []
        for word in 0..<(bytes.count / 4) {
            let mask = bytes.le(UInt32.self, at: word * 4)
            for bit in 0..<32 where mask & (1 << UInt32(bit)) != 0 {
                groups.append(UInt32(word * 32 + bit + 1))
            }
        }
        return groups
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = f.netlinkSocket else {
            throw CheckpointError("fd \(f.fd) of pid \(context.pid) is a netlink socket without its state in the image")
        }
        let what = "the netlink socket (\(name(ofFamily: state.family))) at fd \(f.fd) of pid \(context.pid)"
        guard carried.contains(state.family), state.type == Int32(SOCK_RAW.rawValue) || state.type == Int32(SOCK_DGRAM.rawValue) else {
            throw CheckpointError("\(what): the image holds type \(state.type) of \(name(ofFamily: state.family)), which crtool does not make")
        }
        let fd: Int32
        do {
            fd = try Sockets.create(family: AF_NETLINK, type: state.type, protocol: state.family)
        } catch let e as SystemError {
            throw CheckpointError("cannot make \(what): this kernel refuses the family: \(e.errnoName)")
        }
        return try MadeSocket.finish(fd, flags: f.flags, what: what) {
            try SocketOptionSet.apply(state.options, to: fd)
            if let port = state.portID {
                do {
                    try Sockets.bind(fd, .netlink(portID: port, groups: 0))
                } catch let e as SystemError where e.errno == EADDRINUSE {
                    throw CheckpointError("cannot restore \(what): port id \(port) is taken by another netlink socket of the family")
                }
            }
            for group in state.groups {
                do {
                    try Sockets.setIntOption(fd, level: level, name: addMembership, Int32(bitPattern: group))
                } catch let e as SystemError {
                    throw CheckpointError("cannot join \(what) to its multicast group \(group): \(e.errnoName)")
                }
            }
            if state.destinationPortID != nil || state.destinationGroup != nil {
                let peer = SocketAddress.netlink(portID: state.destinationPortID ?? 0, groups: state.destinationGroup ?? 0)
                let e = Sockets.connect(fd, peer)
                if e != 0 { throw SystemError("connecting \(what) to \(peer)", errno: e) }
            }
        }
    }
}
