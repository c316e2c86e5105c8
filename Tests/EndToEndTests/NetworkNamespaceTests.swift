import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A process in a network namespace of its own (unshare -n, systemd's
/// PrivateNetwork=) comes back in a namespace of its own, its loopback up,
/// with each socket made again in the namespace it belonged to: those made
/// inside in the new one, one made before the process left crtool's in
/// crtool's. fixtures/namespaces/netns.py sends a number through each of
/// its sockets every tick and reports FAIL if one is lost, repeated or out
/// of order.
final class NetworkNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/netns.py"

    func testAProcessInANetworkNamespaceOfItsOwnKeepsItsSocketsWhereTheyWere() throws {
        let program = try startNetns("solo", port: 7777)
        defer { try? stopTree(program.pid) }
        let ready = try XCTUnwrap(program.log.lines().first { $0.hasPrefix("solo ready") })
        let words = ready.split(separator: " ")
        let hostPort = try XCTUnwrap(words.firstIndex(of: "host-udp").flatMap { UInt16(words[$0 + 1]) }, ready)
        let own = try NamespaceKind.net.ownID()
        let before = try NamespaceKind.net.id(pid: program.pid)
        XCTAssertNotEqual(before, own)
        // A setting of the namespace's own, as sysctl -w inside it makes.
        try NamespaceEntry.run(in: .net, of: program.pid) { try NamespaceSysctls.write("net/core/somaxconn", "77") }

        let image = try checkpoint(program, options: ["--tcp-established"])
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        XCTAssertEqual(saved.map(\.sysctls), [["net/core/somaxconn": "77"]], "only what differs from a new namespace")
        let processFile = "process-\(program.pid).json"
        let files = try ImageDirectory.open(at: image).readJSON(ProcessImage.self, from: processFile).files
        let sockets = files.filter { [.inetSocket, .unixSocket].contains($0.kind) }
        // The listener, two TCP ends, three unix ones, the UDP pair: inside.
        XCTAssertEqual(sockets.filter { $0.networkNamespace == before }.count, 8, "\(sockets)")
        XCTAssertEqual(sockets.filter { $0.networkNamespace == nil }.count, 1, "the host socket: \(sockets)")
        XCTAssertEqual(sockets.compactMap { $0.inetSocket?.connection?.networkLock }, [], "a connection inside was locked")
        for (edit, at) in [
            ((NamespaceImage.listFile, "\"loopbackUp\" : true", "\"loopbackUp\" : false"), "[0].loopbackAddresses"),
            ((processFile, "\"networkNamespace\" : \(before)", "\"networkNamespace\" : \(before + 1)"), ".networkNamespace"),
            // A hostile image must reach no sysctl but the namespace's.
            ((NamespaceImage.listFile, "\"net/core/somaxconn\"", "\"kernel/core_pattern\""), "[0].sysctls.kernel/core_pattern"),
            ((NamespaceImage.listFile, "\"net/core/somaxconn\"", "\"net/../kernel/core_pattern\""), "[0].sysctls.net/../kernel/core_pattern"),
        ] {
            let copy = try editedCopy(of: image, file: edit.0, replacing: edit.1, with: edit.2)
            try assertRestoreRefused(copy, pid: program.pid, mentioning: [edit.0, at])
        }

        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("solo tick", 5, after: mark)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "solo fresh ok", from: mark)
        assertSequence(program, "solo tick")
        XCTAssertEqual(program.log.lines().filter { $0.contains("FAIL") }, [])

        XCTAssertNotEqual(try NamespaceKind.net.id(pid: program.pid), own, "the restored process is in crtool's network namespace")
        let listening = { (pid: Int32) in try InetSocketTable.read(pid: pid, table: "tcp").contains { $0.state == TCPInfo.listen && $0.localPort == 7777 } }
        XCTAssertTrue(try listening(program.pid), "the listener is in the program's namespace")
        XCTAssertFalse(try listening(getpid()), "the listener was made in crtool's namespace")
        XCTAssertTrue(try InetSocketTable.read(pid: getpid(), table: "udp").contains { $0.localPort == hostPort },
                      "the socket made before the program left crtool's namespace is back in it")
        XCTAssertTrue(try NamespaceEntry.run(in: .net, of: program.pid) { try Loopback.isUp() })
        XCTAssertEqual(try NamespaceEntry.run(in: .net, of: program.pid) { NamespaceSysctls.read(["net/core/somaxconn"]) },
                       ["net/core/somaxconn": "77"])
        XCTAssertNotEqual(NamespaceSysctls.read(["net/core/somaxconn"]), ["net/core/somaxconn": "77"], "crtool's own namespace was set")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("network namespace net:[\(before)] of the tree's own: loopback device up"), "\(shown)")
    }

    /// A device the restore would not make is named: a veth pair whose
    /// two ends are both inside, a bridge.
    func testANetworkNamespaceWithADeviceTheRestoreCouldNotMakeIsRefused() throws {
        for (name, device, reason) in [
            ("veth", "ip link add crtool-v0 type veth peer name crtool-v1", "its other end is not in crtool's network namespace"),
            ("bridge", "ip link add crtool-br type bridge", "a bridge device crtool-br: crtool makes again only veth devices"),
        ] {
            let program = try startProgram(name, "/usr/bin/unshare", ["--net", "/bin/sh", "-c", "\(device) && echo ready && exec sleep 600"])
            defer { try? stopTree(program.pid) }
            try assertDumpRefused(program, mentioning: ["network namespace net:[", "crtool-", reason], namingAnFd: false)
        }
    }

    /// A process outside the tree in the same namespace would be parted
    /// from it by the restore: it is named.
    func testANetworkNamespaceAProcessOutsideTheTreeIsInIsRefused() throws {
        let program = try startProgram("inside", "/usr/bin/unshare", ["--net", "/bin/sh", "-c", "echo ready && exec sleep 600"])
        defer { try? stopTree(program.pid) }
        let outsider = try spawnProcess("/usr/bin/nsenter", ["--net=/proc/\(program.pid)/ns/net", "/bin/sleep", "600"],
                                        stdout: scratch.newPath("outsider.out"), stderr: scratch.newPath("outsider.err"))
        defer { try? killAndReap(outsider) }
        let namespace = try NamespaceKind.net.id(pid: program.pid)
        XCTAssertTrue(poll(timeout: 10) { (try? NamespaceKind.net.id(pid: outsider)) == namespace })
        try assertDumpRefused(program, mentioning: ["pid \(outsider) (sleep) is in the network namespace net:[\(namespace)]", "not in the tree",
                                                    "--external net[\(namespace)]:KEY"],
                              namingAnFd: false)
    }

    /// A namespace `ip netns` named comes back unnamed: the dump says so,
    /// and the restore leaves the name on the old namespace.
    func testANamedNetworkNamespaceIsWarnedOfAndComesBackUnnamed() throws {
        let name = "crtool-test-\(getpid())"
        let added = try runCommand("/usr/sbin/ip", ["netns", "add", name], outputPrefix: scratch.newPath("ip-add"), timeout: 10)
        XCTAssertTrue(added.succeeded, "\(added)")
        defer { _ = try? runCommand("/usr/sbin/ip", ["netns", "delete", name], outputPrefix: scratch.newPath("ip-delete"), timeout: 10) }
        // As systemd's NetworkNamespacePath= does (ip netns exec would
        // also give it a mount namespace of its own).
        let program = try startProgram("named", "/usr/bin/nsenter", [
            "--net=/run/netns/\(name)", "/bin/sh", "-c", "ip link set lo up && echo ready && exec sleep 600",
        ])
        defer { try? stopTree(program.pid) }
        let named = try NamespaceKind.net.id(pid: program.pid)
        let dir = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(program.pid)", "-D", dir])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        XCTAssertTrue(dumped.stderr.contains("warning: the network namespace net:[\(named)] is named \(name) (/run/netns/\(name), ip netns)"),
                      "\(dumped)")
        XCTAssertNotNil(try waitForExit(program.pid, timeout: 10))
        try restore(dir, as: program)
        let restored = try NamespaceKind.net.id(pid: program.pid)
        XCTAssertNotEqual(restored, named)
        XCTAssertNotEqual(restored, try NamespaceKind.net.ownID())
        XCTAssertTrue(try NamespaceEntry.run(in: .net, of: program.pid) { try Loopback.isUp() })
    }

    private func startNetns(_ tag: String, port: Int) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        let program = try startProgram(tag, python, [script, tag, "\(port)"]) { $0.hasPrefix("\(tag) ready") }
        try program.waitFor("\(tag) tick", atLeast: 3)
        return program
    }
}
