import Foundation
import Glibc
import Ptrace

/// Holds back the packets of established TCP connections from the moment
/// a dump takes them until their restore lets them go: an nftables table
/// of crtool's own that drops each connection's packets both ways. A peer
/// outside the image then sees its packets go unanswered, and sends them
/// again, rather than be reset by a port with no socket; and what it sends
/// while the dump runs is never taken, so never lost.
///
/// The connections are elements of a set the table's four rules look up
/// (IPv4 and IPv6, each way), so one nft run holds any number of them, and
/// the host's other packets pay a hash lookup, not a rule per connection,
/// while the lock stands.
///
/// The table is named in the image, so the restore (on this host) removes
/// it once the connections are made again; a dump that lets the tree run
/// on removes it itself.
public struct NetworkLock: Sendable {
    /// One connection, by its socket's addresses.
    struct Connection {
        var local: SocketAddress
        var remote: SocketAddress
    }

    /// The nftables table, in family inet.
    public let table: String

    public init(table: String) {
        self.table = table
    }

    /// A table name no other dump uses.
    static func fresh(pid: Int32) -> NetworkLock {
        NetworkLock(table: "crtool-\(pid)-\(UInt64(Date().timeIntervalSince1970 * 1000))")
    }

    /// Adds `connections` to the table, made on first use, in one nft run
    /// (a few milliseconds each, all of them inside the frozen time).
    func hold(_ connections: [Connection]) throws {
        guard !connections.isEmpty else { return }
        var elements: [Bool: [String]] = [:]
        for c in connections {
            guard let local = Self.wireAddress(c.local), let remote = Self.wireAddress(c.remote), local.ipv4 == remote.ipv4 else {
                throw CheckpointError("cannot hold the packets of a connection from \(c.local) to \(c.remote): not an IP address pair")
            }
            elements[local.ipv4, default: []].append("\(remote.host) . \(c.remote.port) . \(local.host) . \(c.local.port)")
        }
        // The declarations make the table the first time and change
        // nothing after; the rules are flushed and added again so that a
        // second run leaves four, all in nft's one transaction.
        var script = """
            table inet \(table) {
                set v4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }
                set v6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }
                chain input { type filter hook input priority -150; policy accept; }
                chain output { type filter hook output priority -150; policy accept; }
            }
            flush chain inet \(table) input
            flush chain inet \(table) output
            add rule inet \(table) input ip saddr . tcp sport . ip daddr . tcp dport @v4 drop
            add rule inet \(table) input ip6 saddr . tcp sport . ip6 daddr . tcp dport @v6 drop
            add rule inet \(table) output ip daddr . tcp dport . ip saddr . tcp sport @v4 drop
            add rule inet \(table) output ip6 daddr . tcp dport . ip6 saddr . tcp sport @v6 drop

            """
        for (ipv4, list) in elements.sorted(by: { $0.key && !$1.key }) {
            script += "add element inet \(table) \(ipv4 ? "v4" : "v6") { \(list.joined(separator: ", ")) }\n"
        }
        let what = connections.count == 1 ? "the connection from \(connections[0].local) to \(connections[0].remote)"
                                           : "\(connections.count) connections"
        try run(script, doing: "holding the packets of \(what)")
    }

    /// The address as packets carry it: an IPv6 socket talking to an IPv4
    /// peer (a dual-stack listener's connection, ::ffff:a.b.c.d) sends and
    /// receives IPv4 packets, which only an IPv4 rule matches.
    static func wireAddress(_ a: SocketAddress) -> (host: String, ipv4: Bool)? {
        switch a {
        case .inet4:
            return a.host.map { ($0, true) }
        case .inet6(let bytes, _, _, _) where bytes.count == 16 && bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff:
            return (bytes.suffix(4).map(String.init).joined(separator: "."), true)
        case .inet6:
            return a.host.map { ($0, false) }
        default:
            return nil
        }
    }

    /// Lets the packets go; a table already gone (a restore on another
    /// host) is no error.
    public func release() throws {
        guard Self.exists(table) else { return }
        try run("delete table inet \(table)\n", doing: "letting the held TCP packets go (nftables table \(table))")
    }

    static func exists(_ table: String) -> Bool {
        guard let nft = Nftables.path else { return false }
        return (try? CommandOutput.run(nft, ["list", "table", "inet", table]))?.status == 0
    }

    private func run(_ script: String, doing what: String) throws {
        guard let nft = Nftables.path else {
            throw CheckpointError("\(what) needs nft (Debian's nftables); install it, or dump with --network-lock skip")
        }
        let result = try CommandOutput.run(nft, ["-f", "-"], input: script)
        guard result.status == 0 else {
            throw CheckpointError("\(what) failed: nft said \(result.errorText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
