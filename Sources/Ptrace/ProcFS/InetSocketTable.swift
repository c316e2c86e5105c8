/// One row of an inet socket table of /proc/PID/net (tcp, tcp6, raw,
/// raw6, icmp, icmp6): the addresses of a socket as the kernel keeps them.
/// getpeername cannot tell a connected raw or ICMP socket (it has no port
/// to report), so the remote address comes from here; the TCP tables
/// name a namespace's connections without a descriptor of each.
public struct InetSocketRow: Equatable, Sendable {
    /// 4 or 16 bytes, in network order.
    public var localAddress: [UInt8]
    /// The port; a raw socket's protocol, an ICMP socket's identifier.
    public var localPort: UInt16
    public var remoteAddress: [UInt8]
    public var remotePort: UInt16
    /// The TCP state; a raw or ICMP socket shows TCP_ESTABLISHED (1) once
    /// connected, TCP_CLOSE (7) otherwise.
    public var state: UInt8
    public var inode: UInt64

    public var isConnected: Bool { remoteAddress.contains { $0 != 0 } }

    /// The two ends as socket addresses (no IPv6 scope: the table has none).
    public var local: SocketAddress { Self.address(localAddress, localPort) }
    public var remote: SocketAddress { Self.address(remoteAddress, remotePort) }

    private static func address(_ bytes: [UInt8], _ port: UInt16) -> SocketAddress {
        bytes.count == 4 ? .inet4(address: bytes, port: port) : .inet6(address: bytes, port: port, flowInfo: 0, scopeID: 0)
    }
}

public enum InetSocketTable {
    /// The sockets of `pid`'s network namespace that `table` lists:
    /// "tcp", "tcp6", "raw", "raw6", "icmp" or "icmp6".
    public static func read(pid: Int32, table: String) throws -> [InetSocketRow] {
        let path = "/proc/\(pid)/net/\(table)"
        return try parse(try ProcFile.text(path, pid: pid), file: path)
    }

    /// "sl local_address rem_address st tx_queue rx_queue tr tm->when
    /// retrnsmt uid timeout inode ...", addresses as hex words of the
    /// kernel's memory order ("0100007F:0001" is 127.0.0.1, port 1).
    public static func parse(_ text: String, file: String) throws -> [InetSocketRow] {
        var rows: [InetSocketRow] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            guard f.count >= 10,
                  let (local, port) = endpoint(f[1]), let (remote, remotePort) = endpoint(f[2]), local.count == remote.count,
                  let state = UInt8(f[3], radix: 16), let inode = UInt64(f[9])
            else {
                throw ProcParseError(file: file, line: String(line), reason: "not an inet socket row")
            }
            rows.append(InetSocketRow(localAddress: local, localPort: port, remoteAddress: remote, remotePort: remotePort, state: state, inode: inode))
        }
        return rows
    }

    /// "HEX:PORT" to the address bytes and the port: each 8 hex digits
    /// are a 32-bit word printed from memory, so its bytes come out
    /// little-endian; the port is printed in host order.
    static func endpoint(_ field: Substring) -> ([UInt8], UInt16)? {
        guard let colon = field.firstIndex(of: ":"), let port = UInt16(field[field.index(after: colon)...], radix: 16) else { return nil }
        let hex = field[..<colon]
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 8)
            guard let word = UInt32(hex[index..<next], radix: 16) else { return nil }
            bytes += (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * UInt32($0))) }
            index = next
        }
        return (bytes, port)
    }
}
