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
/// The table is named in the image, so the restore (on this host) removes
/// it once the connections are made again; a dump that lets the tree run
/// on removes it itself.
public struct NetworkLock: Sendable {
    /// The nftables table, in family inet.
    public let table: String

    public init(table: String) {
        self.table = table
    }

    /// A table name no other dump uses.
    static func fresh(pid: Int32) -> NetworkLock {
        NetworkLock(table: "crtool-\(pid)-\(UInt64(Date().timeIntervalSince1970 * 1000))")
    }

    /// Adds one connection (its two endpoints) to the table, made on first use.
    func hold(local: SocketAddress, remote: SocketAddress) throws {
        guard let host = local.host, let peer = remote.host else {
            throw CheckpointError("cannot hold the packets of a connection from \(local) to \(remote): not an IP address pair")
        }
        let ip = host.contains(":") ? "ip6" : "ip"
        let inbound = "\(ip) saddr \(peer) tcp sport \(remote.port) \(ip) daddr \(host) tcp dport \(local.port) drop"
        let outbound = "\(ip) saddr \(host) tcp sport \(local.port) \(ip) daddr \(peer) tcp dport \(remote.port) drop"
        try run("""
            table inet \(table) {
                chain input { type filter hook input priority -150; policy accept; }
                chain output { type filter hook output priority -150; policy accept; }
            }
            add rule inet \(table) input \(inbound)
            add rule inet \(table) output \(outbound)

            """, doing: "holding the packets of the connection from \(local) to \(remote)")
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
