import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A server in a network namespace of its own reached through veth
/// devices, as a container is: one pair whose outside end is a port of a
/// bridge with the subnet's gateway address, one whose outside end has an
/// address of its own and a route through it. Dumped with
/// --tcp-established while a client on the host talks to it over the
/// bridge, it comes back with the same devices (names, MAC addresses,
/// MTUs), addresses, routes and device sysctls on both sides, and the
/// client's connection carries on without a line lost or repeated.
/// fixtures/namespaces/veth.py is both ends.
final class VethTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/veth.py"

    /// Names and a subnet of this run's own, so that runs side by side
    /// do not meet.
    private struct Network {
        let tag = getpid() % 10000
        var bridge: String { "crbr\(tag)" }
        var bridgePort: String { "crvb\(tag)" }
        var direct: String { "crvd\(tag)" }
        var subnet: String { "10.213.\(tag % 250)" }
        var directSubnet: String { "10.216.\(tag % 250)" }
        var routed: String { "10.215.\(tag % 250).0/24" }
    }

    private func ip(_ arguments: [String]) throws {
        let result = try runCommand("/usr/sbin/ip", arguments, outputPrefix: scratch.newPath("ip"), timeout: 10)
        XCTAssertTrue(result.succeeded, "ip \(arguments.joined(separator: " ")): \(result)")
        if !result.succeeded { throw HarnessError("ip \(arguments.joined(separator: " ")) failed") }
    }

    private func inside(_ pid: Int32, _ command: String) throws {
        let result = try runCommand("/usr/bin/nsenter", ["--net=/proc/\(pid)/ns/net", "/bin/sh", "-c", command],
                                    outputPrefix: scratch.newPath("nsenter"), timeout: 10)
        XCTAssertTrue(result.succeeded, "\(command): \(result)")
        if !result.succeeded { throw HarnessError("\(command) failed") }
    }

    /// The server's namespace with its two pairs, as a runtime would give
    /// them to it.
    private func connect(_ server: Fixture, _ net: Network) throws {
        try ip(["link", "add", net.bridgePort, "address", "02:00:00:13:00:01", "type", "veth",
                "peer", "name", "eth0", "address", "02:00:00:13:00:02", "netns", "\(server.pid)"])
        try ip(["link", "set", net.bridgePort, "master", net.bridge, "up"])
        try ip(["link", "add", net.direct, "address", "02:00:00:16:00:01", "mtu", "1400", "type", "veth",
                "peer", "name", "eth1", "address", "02:00:00:16:00:02", "mtu", "1400", "netns", "\(server.pid)"])
        try ip(["address", "add", "\(net.directSubnet).1/24", "dev", net.direct])
        try ip(["link", "set", net.direct, "up"])
        try ip(["route", "add", net.routed, "via", "\(net.directSubnet).2", "dev", net.direct])
        try inside(server.pid, [
            "ip link set lo up",
            "ip address add \(net.subnet).2/24 dev eth0", "ip address add fd21:3::2/64 dev eth0 nodad",
            "ip link set eth0 up", "ip address add \(net.directSubnet).2/24 dev eth1", "ip link set eth1 up",
            "ip route add default via \(net.subnet).1", "ip route add 10.214.0.0/16 via \(net.directSubnet).1 metric 50",
            "sysctl -q -w net.ipv4.conf.eth1.arp_ignore=1",
        ].joined(separator: " && "))
    }

    private func withBridge(_ net: Network, _ body: () throws -> Void) throws {
        _ = try? runCommand("/usr/sbin/ip", ["link", "del", net.bridge], outputPrefix: scratch.newPath("ip-clean"), timeout: 10)
        try ip(["link", "add", net.bridge, "type", "bridge"])
        defer {
            for device in [net.bridge, net.bridgePort, net.direct] {
                _ = try? runCommand("/usr/sbin/ip", ["link", "del", device], outputPrefix: scratch.newPath("ip-del"), timeout: 10)
            }
        }
        try ip(["address", "add", "\(net.subnet).1/24", "dev", net.bridge])
        try ip(["link", "set", net.bridge, "up"])
        try body()
    }

    func testAServerBehindVethDevicesKeepsItsNetworkAndItsClientsConnection() throws {
        let net = Network()
        let python = try BuildProducts.requirePython3()
        try withBridge(net) {
            let server = try startProgram("server", "/usr/bin/unshare", ["--net", python, script, "server", "7090"])
            defer { try? stopTree(server.pid) }
            try connect(server, net)
            let client = try startProgram("client", python, [script, "client", "\(net.subnet).2", "7090"]) { $0 == "client 1" }
            defer { try? stopTree(client.pid) }
            try client.waitFor("client", atLeast: 10)
            let before = try NamespaceEntry.run(in: .net, of: server.pid) { () throws -> ([NetworkLink], [String], [Route]) in
                let socket = try RouteNetlinkSocket()
                return (try socket.links(), try socket.addresses().filter { !$0.isIPv6LinkLocal }.map(\.text).sorted(), try socket.routes())
            }

            let image = try checkpoint(server, options: ["--tcp-established"])
            XCTAssertEqual(NetworkInterface.index(ofName: net.bridgePort), 0, "the dump left the outside end of a killed tree's pair")
            let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
            let veths = try XCTUnwrap(saved.first?.veths)
            XCTAssertEqual(veths.map(\.inside.name), ["eth0", "eth1"])
            XCTAssertEqual(veths.map(\.outsideMaster), [net.bridge, nil])
            // IPv6's MTU follows the device's (1400), unlike the default entry's.
            XCTAssertEqual(saved.first?.sysctls?.keys.filter { $0.contains("eth1") }.sorted(), ["net/ipv4/conf/eth1/arp_ignore", "net/ipv6/conf/eth1/mtu"],
                           "only the device sysctls that differ from what a new device has")
            for (edit, at) in [
                (("\"02:00:00:13:00:02\"", "\"03:00:00:13:00:02\""), "[0].veths[0].inside.hardwareAddress"),
                (("\"\(net.bridgePort)\"", "\"crv/\(net.tag)\""), "[0].veths[0].outside.name"),
                (("\"gateway\" : \"\(net.directSubnet).1\"", "\"gateway\" : \"fd21:3::1\""), "[0].routes[1].gateway"),
                (("\"10.214.0.0/16\"", "\"10.214.0.0/33\""), "[0].routes[1].destination"),
                (("\"device\" : \"eth1\"", "\"device\" : \"eth9\""), "[0].routes[1].device"),
            ] {
                let copy = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: edit.0, with: edit.1)
                try assertRestoreRefused(copy, pid: server.pid, mentioning: [NamespaceImage.listFile, at])
            }

            // A gateway the namespace cannot reach fails the restore after
            // the pairs are made: they go with it, at once.
            let unreachable = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: "\"gateway\" : \"\(net.directSubnet).1\"",
                                             with: "\"gateway\" : \"10.99.0.1\"")
            let failed = try crtool(["restore", "-D", unreachable])
            XCTAssertFalse(failed.succeeded)
            XCTAssertTrue(failed.stderr.contains("add the route 10.214.0.0/16 via 10.99.0.1 dev eth1"), "\(failed)")
            XCTAssertFalse(ProcessTable.isAlive(server.pid), "a failed restore left its process")
            XCTAssertEqual([net.bridgePort, net.direct].map(NetworkInterface.index(ofName:)), [0, 0], "a failed restore left its veth pairs")

            let mark = client.lineCount
            try restore(image, as: server)
            try client.waitForMore("client", 10, after: mark)
            assertSequence(client, "client")
            assertNoFailures(client)
            let after = try NamespaceEntry.run(in: .net, of: server.pid) { () throws -> ([NetworkLink], [String], [Route]) in
                let socket = try RouteNetlinkSocket()
                return (try socket.links(), try socket.addresses().filter { !$0.isIPv6LinkLocal }.map(\.text).sorted(), try socket.routes())
            }
            let shape = { (links: [NetworkLink]) in links.map { "\($0.name) \(NetworkLink.text(ofHardwareAddress: $0.hardwareAddress)) \($0.mtu) \($0.isUp)" } }
            XCTAssertEqual(shape(after.0.filter { $0.kind == "veth" }), shape(before.0.filter { $0.kind == "veth" }))
            XCTAssertEqual(after.1, before.1)
            let routeShape = { (routes: [Route]) in
                routes.filter { $0.table == Route.mainTable }.map { "\($0.destinationText) \($0.gateway.flatMap(IPAddressText.text) ?? "-") \($0.priority ?? 0) \($0.protocolNumber)" }.sorted()
            }
            XCTAssertEqual(routeShape(after.2), routeShape(before.2))
            XCTAssertEqual(try NamespaceEntry.run(in: .net, of: server.pid) { NamespaceSysctls.read(["net/ipv4/conf/eth1/arp_ignore"]) },
                           ["net/ipv4/conf/eth1/arp_ignore": "1"])

            let host = try RouteNetlinkSocket()
            let links = try host.links()
            let bridge = try XCTUnwrap(links.first { $0.name == net.bridge })
            let port = try XCTUnwrap(links.first { $0.name == net.bridgePort })
            XCTAssertEqual(port.masterIndex, bridge.index, "the outside end is not a port of its bridge again")
            XCTAssertTrue(port.isUp)
            let direct = try XCTUnwrap(links.first { $0.name == net.direct })
            XCTAssertEqual(direct.mtu, 1400)
            XCTAssertTrue(try host.addresses().contains { $0.index == direct.index && $0.text == "\(net.directSubnet).1/24" })
            XCTAssertTrue(try host.routes().contains { $0.destinationText == net.routed && $0.outputIndex == direct.index },
                          "the route through the outside end is not back")

            // A new client, through the other pair.
            let fresh = try startProgram("fresh", python, [script, "client", "\(net.directSubnet).2", "7090", "3"]) { $0 == "client done" }
            defer { try? stopTree(fresh.pid) }
            assertNoFailures(fresh)
            try server.waitFor(line: "served 2", from: 0)
            let shown = try crtool(["show", image])
            XCTAssertTrue(shown.stdout.contains("veth eth0 02:00:00:13:00:02 mtu 1500 up \(net.subnet).2/24 fd21:3::2/64, its other end veth \(net.bridgePort)"),
                          "\(shown)")
        }
    }

    /// The outside end's name taken in crtool's namespace (by another
    /// device, or by the dumped tree's pair still running): the restore
    /// fails before it makes a process, naming the device, and restores
    /// once the name is free.
    func testARestoreFindingTheOutsideNameTakenIsRefusedBeforeItMakesAnything() throws {
        let net = Network()
        let python = try BuildProducts.requirePython3()
        let server = try startProgram("server", "/usr/bin/unshare", ["--net", python, script, "server", "7091"])
        defer { try? stopTree(server.pid) }
        defer { _ = try? runCommand("/usr/sbin/ip", ["link", "del", net.direct], outputPrefix: scratch.newPath("ip-del"), timeout: 10) }
        try ip(["link", "add", net.direct, "type", "veth", "peer", "name", "eth0", "netns", "\(server.pid)"])
        try ip(["address", "add", "\(net.directSubnet).1/24", "dev", net.direct])
        try ip(["link", "set", net.direct, "up"])
        try inside(server.pid, "ip address add \(net.directSubnet).2/24 dev eth0 && ip link set eth0 up")
        let image = try checkpoint(server)

        try ip(["link", "add", net.direct, "type", "veth", "peer", "name", "\(net.direct)p"])
        try assertRestoreRefused(image, pid: server.pid, mentioning: ["the device \(net.direct)", "already in crtool's network namespace"])
        try ip(["link", "del", net.direct])
        try restore(image, as: server)
        let client = try startProgram("client", python, [script, "client", "\(net.directSubnet).2", "7091", "3"]) { $0 == "client done" }
        defer { try? stopTree(client.pid) }
        assertNoFailures(client)
    }
}
