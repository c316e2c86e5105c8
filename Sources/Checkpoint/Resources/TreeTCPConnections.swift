import Glibc
import Ptrace

/// The TCP connections a frozen tree's descriptors hold (established or
/// half closed, as TCPConnections carries them), found
/// from crtool's namespace's TCP tables before any socket is read, so the dump
/// can hold all their packets with one nft run instead of one per
/// connection: a server with a thousand clients would otherwise stay
/// frozen seconds longer.
enum TreeTCPConnections {
    /// Socket inode to connection, for every such TCP socket one of
    /// `pids` has a descriptor of, and socket inode to bound address for
    /// every listener.
    static func held(by pids: [Int32]) throws -> (connections: [UInt64: NetworkLock.Connection], listeners: [UInt64: SocketAddress]) {
        var sockets = Set<UInt64>()
        for pid in pids {
            for fd in try ProcDirectory.fileDescriptors(pid: pid) {
                guard let link = try? ProcFile.link("/proc/\(pid)/fd/\(fd)", pid: pid),
                      link.hasPrefix("socket:["), link.hasSuffix("]"),
                      let inode = UInt64(link.dropFirst("socket:[".count).dropLast())
                else { continue }
                sockets.insert(inode)
            }
        }
        guard !sockets.isEmpty else { return ([:], [:]) }
        var found: [UInt64: NetworkLock.Connection] = [:]
        var listeners: [UInt64: SocketAddress] = [:]
        // crtool's own namespace's tables, where the lock stands: a network
        // namespace of the tree's own is not locked (FileDumpContext.packetLock).
        // No thread of crtool is inside another one before the sockets are read.
        for table in ["tcp", "tcp6"] {
            for row in try InetSocketTable.read(pid: getpid(), table: table) where sockets.contains(row.inode) {
                if row.state == TCPInfo.listen {
                    listeners[row.inode] = row.local
                } else if TCPConnections.states.contains(row.state) || row.state == TCPInfo.synSent {
                    found[row.inode] = NetworkLock.Connection(local: row.local, remote: row.remote)
                }
            }
        }
        return (found, listeners)
    }
}
