import Checkpoint
import Ptrace

/// What `crtool show` says of a socket (or tun queue) beyond its kind: enough to tell
/// which one of a process's sockets it is.
enum SocketDescription {
    static func of(_ f: FileDescriptorImage) -> String? {
        if let h = f.heldOutside {
            if h.isKeeper { return "kept open by crtool-keeper pid \(h.pid) (its fd \(h.fd)) since the dump: taken back at the restore" }
            return "a listener also held by pid \(h.pid) fd \(h.fd), outside the image: taken back from it at the restore"
        }
        if let s = f.inetSocket {
            let local = s.local.map { "\($0.host):\($0.port)" } ?? "unbound"
            if let c = s.connection {
                return "\(s.transport.rawValue) \(s.family.rawValue) \(local) \(c.state.map { "half closed (\($0))" } ?? "established") "
                    + "with \(c.remote.host):\(c.remote.port), "
                    + "\(c.sendQueue.count) bytes to send (\(c.unsentBytes) never sent), \(c.receiveQueue.count) bytes to read"
                    + (c.networkLock.map { ", packets held by nftables table \($0)" } ?? "")
            }
            if let c = s.connecting {
                return "\(s.transport.rawValue) \(s.family.rawValue) \(local) connecting to \(c.remote.host):\(c.remote.port)"
                    + (c.networkLock.map { ", packets held by nftables table \($0)" } ?? "")
            }
            let role = s.listening ? " listening" : s.remote.map { " to \($0.host):\($0.port)" } ?? ""
            let queued = s.queue.map { q in ", \(q.count) datagrams queued (\(q.reduce(0) { $0 + $1.payload.count }) bytes)" } ?? ""
            return "\(s.transport.rawValue) \(s.family.rawValue) \(local)\(role)\(queued)"
                + (s.networkLock.map { ", new connections held by nftables table \($0)" } ?? "")
        }
        if let s = f.rawSocket {
            let kind = s.icmpDatagram == true ? "ICMP datagram" : "raw"
            let local = s.local.map { $0.host + ($0.port != 0 ? " id \($0.port)" : "") } ?? "any address"
            return "\(kind) \(s.family.rawValue) protocol \(s.protocolNumber) \(local)" + (s.remote.map { " to \($0.host)" } ?? "")
        }
        if let s = f.netlinkSocket {
            let groups = s.groups.isEmpty ? "" : " groups " + s.groups.map(String.init).joined(separator: ",")
            return "netlink \(NetlinkSocketState.name(ofFamily: s.family)) " + (s.portID.map { "port \($0)" } ?? "unbound") + groups
        }
        if let s = f.unixSocket {
            return unix(s)
        }
        if let s = f.tunFile {
            guard let name = s.interface else { return "not attached to a device" }
            let made = s.device.map { d in
                ", made again with " + (d.device.addresses.isEmpty ? "no address" : d.device.addresses.map(\.address).joined(separator: " "))
                    + (s.routes.map { ", routes " + $0.map(\.text).joined(separator: "; ") } ?? "")
            } ?? ""
            return "a queue of the \(s.isTap ? "tap" : "tun") device \(name)" + (s.flags & TunDevice.persist != 0 ? " (persistent)" : "") + made
        }
        if let s = f.packetSocket {
            let members = s.memberships.isEmpty ? "" : ", \(s.memberships.count) memberships"
            let ring = s.receiveRing.map { r in
                let shape = r.frameHeader.map { "\(r.geometry.frameCount) frames of \(ByteCount.format(UInt64(r.geometry.frameSize))) (TPACKET_\($0.rawValue.uppercased()))" }
                    ?? "\(r.geometry.blockCount) blocks of \(ByteCount.format(UInt64(r.geometry.blockSize)))"
                return ", a receive ring of \(shape), \(r.heldByProgram) held by the program"
            } ?? ""
            let fanout = s.fanout.map { ", in fanout group \($0 & 0xffff) (mode \(($0 >> 16) & 0xff))" } ?? ""
            return "packet ethertype 0x\(String(s.protocolNumber, radix: 16)) on \(s.interface ?? "every interface")\(members)\(fanout)\(ring)"
        }
        return nil
    }

    /// "unix stream to the journal as web, unit web.service",
    /// "unix datagram connected to /dev/log outside the image", ...
    private static func unix(_ s: UnixSocketState) -> String {
        let me = s.socket
        let kind = "unix \(me.type.rawValue)"
        if let j = s.journalStream {
            return "\(kind) to the journal (\(j.socketPath)) as \(j.identifier.isEmpty ? "no identifier" : j.identifier)"
                + (j.unit.isEmpty ? "" : ", unit \(j.unit)") + ", priority \(j.priority)"
        }
        let name = me.name.map(describe)
        let queued = me.queue.isEmpty ? "" : ", \(me.queuedBytes) bytes queued"
        if let outside = s.externalPeer { return "\(kind) connected to \(describe(outside)) outside the image" + queued }
        if me.listening {
            return "\(kind) listening on \(name ?? "no name")" + (me.listenedAs.map { ", made to listen by \(describe($0))" } ?? "")
        }
        if let peer = s.peer {
            return "\(kind)\(name.map { " " + $0 } ?? "") connected to socket:[\(peer.inode)]"
                + (me.peerCredentials.map { ", peer \(describe($0))" } ?? "") + queued
        }
        if me.peerInode == 0 { return "\(kind) whose peer was closed" + queued }
        return "\(kind)" + (name.map { " bound to " + $0 } ?? " unbound") + queued
    }

    /// "pid 42 as uid 65534 gid 65534", SO_PEERCRED's words.
    private static func describe(_ c: PeerCredentials) -> String {
        "pid \(c.pid) as uid \(c.uid) gid \(c.gid)"
    }

    private static func describe(_ name: UnixSocketName) -> String {
        name.resolvedPath ?? name.path ?? name.abstract.map { "@" + $0 } ?? "no name"
    }
}
