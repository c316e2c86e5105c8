/// One row of /proc/PID/net/netlink: what the kernel tells of a netlink
/// socket and nothing else does, whether messages wait in its receive
/// queue and whether a multipart answer (a dump) is still being made.
public struct NetlinkSocketRow: Equatable, Sendable {
    /// The netlink family the socket was made with (NETLINK_ROUTE, ...).
    public var protocolNumber: Int32
    public var portID: UInt32
    /// The first 32 multicast groups, as a mask.
    public var groups: UInt32
    /// Memory held by messages queued and not yet read (buffer sizes as
    /// the kernel charges them, not payload bytes): 0 when none wait.
    public var receiveMemory: UInt64
    /// A dump request is in progress: the kernel will queue more answers.
    public var dumpRunning: Bool
    public var drops: UInt64
    public var inode: UInt64
}

public enum NetlinkTable {
    /// The netlink sockets of the network namespace `pid` lives in.
    public static func read(pid: Int32) throws -> [NetlinkSocketRow] {
        let path = "/proc/\(pid)/net/netlink"
        return try parse(try ProcFile.text(path, pid: pid), file: path)
    }

    /// "sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode", every number
    /// decimal except sk and Groups (hex).
    public static func parse(_ text: String, file: String) throws -> [NetlinkSocketRow] {
        var rows: [NetlinkSocketRow] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            guard f.count >= 10,
                  let proto = Int32(f[1]), let port = UInt32(f[2]), let groups = UInt32(f[3], radix: 16),
                  let rmem = UInt64(f[4]), let dump = UInt64(f[6]), let drops = UInt64(f[8]), let inode = UInt64(f[9])
            else {
                throw ProcParseError(file: file, line: String(line), reason: "not a netlink socket row")
            }
            rows.append(NetlinkSocketRow(protocolNumber: proto, portID: port, groups: groups, receiveMemory: rmem,
                                         dumpRunning: dump != 0, drops: drops, inode: inode))
        }
        return rows
    }
}
