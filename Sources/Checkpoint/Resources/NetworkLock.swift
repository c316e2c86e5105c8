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
/// The connections are elements of sets the table's rules look up (IPv4
/// and IPv6, each way), so one nft run holds any number of them, and the
/// host's other packets pay a hash lookup, not a rule per connection,
/// while the lock stands. The tree's listeners are held too: SYNs to them
/// are dropped, so a client that connects between the dump and the
/// restore waits (its SYN is sent again) and is accepted by the restored
/// listener, and one that connects during the dump is not left in an
/// accept queue the dump cannot carry.
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

    /// Adds `connections`, and the listeners at `listening` (their bound
    /// addresses), to the table, made on first use, in one nft run (a few
    /// milliseconds each, all of them inside the frozen time). A held
    /// listener's new connections wait: their SYNs are dropped, and sent
    /// again by their clients until the restored listener takes them,
    /// rather than refused or queued where the dump cannot reach them.
    func hold(_ connections: [Connection], listening: [SocketAddress] = []) throws {
        guard !connections.isEmpty || !listening.isEmpty else { return }
        var elements: [String: [String]] = [:]
        for c in connections {
            guard let local = Self.wireAddress(c.local), let remote = Self.wireAddress(c.remote), local.ipv4 == remote.ipv4 else {
                throw CheckpointError("cannot hold the packets of a connection from \(c.local) to \(c.remote): not an IP address pair")
            }
            elements[local.ipv4 ? "v4" : "v6", default: []].append("\(remote.host) . \(c.remote.port) . \(local.host) . \(c.local.port)")
        }
        for l in listening {
            guard let local = Self.wireAddress(l) else { throw CheckpointError("cannot hold new connections to \(l): not an IP address") }
            if local.host == "0.0.0.0" || local.host == "::" {
                elements["ports", default: []].append("\(l.port)")
            } else {
                elements[local.ipv4 ? "listeners4" : "listeners6", default: []].append("\(local.host) . \(l.port)")
            }
        }
        // The declarations make the table the first time and change
        // nothing after; the rules are flushed and added again so that a
        // second run leaves the same seven, all in nft's one transaction.
        let syn = "tcp flags & (syn | ack) == syn drop"
        var script = """
            table inet \(table) {
                set v4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }
                set v6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }
                set listeners4 { type ipv4_addr . inet_service; }
                set listeners6 { type ipv6_addr . inet_service; }
                set ports { type inet_service; }
                chain input { type filter hook input priority -150; policy accept; }
                chain output { type filter hook output priority -150; policy accept; }
            }
            flush chain inet \(table) input
            flush chain inet \(table) output
            add rule inet \(table) input ip saddr . tcp sport . ip daddr . tcp dport @v4 drop
            add rule inet \(table) input ip6 saddr . tcp sport . ip6 daddr . tcp dport @v6 drop
            add rule inet \(table) input ip daddr . tcp dport @listeners4 \(syn)
            add rule inet \(table) input ip6 daddr . tcp dport @listeners6 \(syn)
            add rule inet \(table) input tcp dport @ports \(syn)
            add rule inet \(table) output ip daddr . tcp dport . ip saddr . tcp sport @v4 drop
            add rule inet \(table) output ip6 daddr . tcp dport . ip6 saddr . tcp sport @v6 drop

            """
        for (set, list) in elements.sorted(by: { $0.key < $1.key }) {
            script += "add element inet \(table) \(set) { \(list.joined(separator: ", ")) }\n"
        }
        var held: [String] = []
        if !connections.isEmpty {
            held.append(connections.count == 1 ? "the connection from \(connections[0].local) to \(connections[0].remote)"
                                                : "\(connections.count) connections")
        }
        if !listening.isEmpty { held.append("new connections to \(listening.count == 1 ? "\(listening[0])" : "\(listening.count) listeners")") }
        try run(script, doing: "holding the packets of \(held.joined(separator: " and "))")
        if let nft = Nftables.path { DeathGuard.shared.deleteAtDeath(table: table, nft: nft) }
    }

    /// The table of the lock in network namespace `id` of the tree's.
    func table(inNamespace id: UInt64) -> String { "\(table)-net\(id)" }

    /// Holds every packet into and out of network namespace `id` of the
    /// tree's (entered through `pid`) through its veth `devices`: the
    /// peers of its connections are beyond them, where crtool's table does
    /// not see their packets as the connections' own. Nothing in the
    /// namespace speaks to the outside while the dump holds the tree; the
    /// table goes with the namespace when the tree is killed, and a
    /// restore keeps the new pairs' outside ends down until it lets the
    /// tree go (VethMaker).
    func holdNamespace(_ id: UInt64, of pid: Int32, devices: [String]) throws {
        let names = devices.map { "\"\($0)\"" }.joined(separator: ", ")
        let table = table(inNamespace: id)
        let script = """
            table inet \(table) {
                chain ingress { type filter hook prerouting priority -300; policy accept; iifname { \(names) } drop; }
                chain egress { type filter hook postrouting priority 300; policy accept; oifname { \(names) } drop; }
            }

            """
        try NamespaceEntry.run(in: .net, of: pid) {
            try self.run(script, doing: "holding the packets through \(devices.joined(separator: ", ")) of net:[\(id)]")
        }
        let path = NamespaceKind.net.path(pid: pid)
        let namespace = open(path, O_RDONLY | O_CLOEXEC)
        if let nft = Nftables.path, namespace >= 0 { DeathGuard.shared.deleteAtDeath(table: table, nft: nft, namespace: namespace) }
        if namespace >= 0 { close(namespace) }
    }

    /// Lets the packets of namespace `id` go, for a tree that runs on.
    func releaseNamespace(_ id: UInt64, of pid: Int32) throws {
        let table = table(inNamespace: id)
        try NamespaceEntry.run(in: .net, of: pid) {
            try self.run("delete table inet \(table)\n", doing: "letting the packets of net:[\(id)] go (nftables table \(table) in it)")
        }
        DeathGuard.shared.forget(table: table)
    }

    /// The host in text as an nft rule must name it (SocketAddress.onTheWire),
    /// and whether it is an IPv4 one.
    static func wireAddress(_ a: SocketAddress) -> (host: String, ipv4: Bool)? {
        let wire = a.onTheWire
        return wire.host.map { ($0, wire.family == AF_INET) }
    }

    /// Lets the packets go; a table already gone (a restore on another
    /// host) is no error.
    public func release() throws {
        guard Self.exists(table) else { return DeathGuard.shared.forget(table: table) }
        try run("delete table inet \(table)\n", doing: "letting the held TCP packets go (nftables table \(table))")
        DeathGuard.shared.forget(table: table)
    }

    /// The tree is killed and its image complete: the table stands for the
    /// restore, also if crtool dies now.
    func handOverToRestore() {
        DeathGuard.shared.forget(table: table)
    }

    /// Has the restore remove `table` once, at the release, however many
    /// connections and listeners of the image name it.
    static func releaseWhenRestored(_ table: String, registry: OpenFileRegistry) {
        registry.whenReleasing(.packets, once: "nftables table \(table)") { try NetworkLock(table: table).release() }
    }

    /// Has the restore remove `table`, left by the dump in a network
    /// namespace left out (ExternalNamespaces), from `namespace`, the one
    /// given in its place, at the release: a runtime that gives the same
    /// namespace back finds its devices passing packets again; one given
    /// anew never had the table.
    static func releaseWhenRestored(_ table: String, in namespace: NetworkNamespace, registry: OpenFileRegistry) {
        registry.whenReleasing(.packets, once: "nftables table \(table) in net:[\(namespace.id)]") {
            try namespace.entered { try NetworkLock(table: table).release() }
        }
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
