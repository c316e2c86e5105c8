import Checkpoint
import Glibc
import Ptrace
import XCTest

/// Tun and tap devices, as VPN clients, user-mode network stacks and
/// virtual machine monitors hold them: devices of the tree's own network
/// namespace come back with their queues, addresses, routes and settings
/// and carry packets both ways; a persistent device of crtool's namespace
/// is joined again by name; one that goes with the tree is made again
/// there, with its addresses and routes.
/// fixtures/namespaces/tun.py is the program.
final class TunTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/tun.py"

    /// What `commands` (ip's) print, run inside `pid`'s network namespace
    /// or in crtool's, without what may differ between two makings of the
    /// same devices: their indexes, the operational state (the kernel says
    /// UNKNOWN for a tun device that never lost its carrier, UP for one
    /// that did) and duplicate address detection still running.
    private func ipView(_ commands: String, inNamespaceOf pid: Int32? = nil) throws -> String {
        let shell = ["/bin/sh", "-c", commands]
        let result = try pid.map { try runCommand("/usr/bin/nsenter", ["--net=/proc/\($0)/ns/net"] + shell, outputPrefix: scratch.newPath("ip"), timeout: 10) }
            ?? runCommand(shell[0], Array(shell.dropFirst()), outputPrefix: scratch.newPath("ip"), timeout: 10)
        guard result.succeeded else { throw HarnessError("\(commands): \(result)") }
        return result.stdout.split(separator: "\n").map { line in
            line.replacingOccurrences(of: #"^\d+: "#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #" state (UP|UNKNOWN) "#, with: " state - ", options: .regularExpression)
                .replacingOccurrences(of: " tentative", with: "")
        }.joined(separator: "\n")
    }

    /// `ip -d link`, `ip address` and `ip route` inside `pid`'s namespace.
    private func networkView(of pid: Int32) throws -> String {
        try ipView("ip -d link; ip address; ip route", inNamespaceOf: pid)
    }

    private func ip(_ arguments: [String]) throws {
        let result = try runCommand("/usr/sbin/ip", arguments, outputPrefix: scratch.newPath("ip"), timeout: 10)
        guard result.succeeded else { throw HarnessError("ip \(arguments.joined(separator: " ")): \(result)") }
    }

    /// A device of crtool's namespace a test made, gone or not.
    private func removeDevice(_ name: String) {
        _ = try? runCommand("/usr/sbin/ip", ["link", "del", name], outputPrefix: scratch.newPath("ip-del"), timeout: 10)
    }

    /// The fixture in a network namespace of its own, making its devices
    /// there, once it has ticked.
    private func startInside(_ name: String) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        let program = try startProgram(name, "/usr/bin/unshare", ["--net", python, script, "inside"])
        try program.waitFor("tick", atLeast: 1)
        return program
    }

    private func lastState(_ program: Fixture) throws -> String {
        try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }?.components(separatedBy: " state ").last)
    }

    func testTunAndTapDevicesOfItsNamespaceComeBackCarryingPackets() throws {
        let program = try startInside("tun")
        defer { try? stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 3)
        let network = try networkView(of: program.pid)
        XCTAssertTrue(network.contains("tun type tap pi off vnet_hdr off multi_queue numqueues 2 numdisabled 0 persist off"), network)
        XCTAssertTrue(network.contains("persist on user 1234"), network)
        let state = try lastState(program)
        XCTAssertEqual(state, "crtun0/0x1001,crtap0/0x5002,crmq0/0x1102,crmq0/0x1102,crmq0/0x1102,errno77,1048576,12,02:00:00:77:00:01,1400,10.77.0.1,10.79.0.1")

        let image = try checkpoint(program)
        let show = try crtool(["show", image]).stdout
        for text in ["4 tun or tap devices", "tun crtun0 mtu 1500 up 10.77.0.1/24", "tap crtap0 02:00:00:77:00:01 mtu 1400 up 10.79.0.1/24",
                     "tun crpst0 mtu 1500 down, persistent", "a queue of the tap device crmq0", "not attached to a device"] {
            XCTAssertTrue(show.contains(text), "show says \(text): \(show)")
        }
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(try lastState(program), state, "every queue attached as it was, with its settings and its device's")
        XCTAssertEqual(try networkView(of: program.pid), network, "the namespace's devices, addresses and routes")
        assertNoFailures(program)

        // Done twice: the restored devices give up their persistence again
        // (a second dump would otherwise find it), and dump as the first did.
        let again = try checkpoint(program)
        let saved = try ImageDirectory.open(at: again).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        XCTAssertEqual(saved.first?.tuns?.map(\.persistent), [false, false, false, true], "crtun0, crtap0, crmq0, crpst0")
        try restore(again, as: program)
        try program.waitForMore("tick", 2, after: program.lineCount)
        assertNoFailures(program)
    }

    /// A queue held by a process outside the tree, from outside the
    /// namespace (as slirp4netns holds a container's tap): the device made
    /// again would leave it on the old one. Refused, naming the device.
    func testADeviceWithAQueueHeldOutsideTheTreeIsRefused() throws {
        let program = try startInside("tun-shared")
        defer { try? stopTree(program.pid) }
        let outsider = try startPython("tun-outsider", """
            import ctypes, fcntl, os, struct, sys, time
            libc = ctypes.CDLL(None, use_errno=True)
            home = os.open("/proc/self/ns/net", os.O_RDONLY)
            there = os.open("/proc/%s/ns/net" % sys.argv[1], os.O_RDONLY)
            if libc.setns(there, 0x40000000) != 0:
                print("FAIL: setns", ctypes.get_errno(), flush=True)
                sys.exit(1)
            queue = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(queue, 0x400454CA, struct.pack("16sH22x", b"crmq0", 0x1102))
            libc.setns(home, 0x40000000)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """, ["\(program.pid)"])
        defer { try? stopTree(outsider.pid) }
        try assertDumpRefused(program, mentioning: ["the tap device crmq0 of the network namespace", "has 3 queues attached, 2 of them files of the tree"])
        try program.waitForMore("tick", 2, after: program.lineCount)
        assertNoFailures(program)
    }

    /// A hostile namespaces.json or process file is refused by field.
    func testAnImageWithBadTunStateIsRefusedByField() throws {
        let program = try startInside("tun-image")
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let process = URL(fileURLWithPath: try ImageFiles(directory: image, pid: program.pid).processFile()).lastPathComponent
        for (file, edit, field) in [
            (NamespaceImage.listFile, ("\"name\" : \"crtap0\"", "\"name\" : \"crtap0/x\""), "tuns[1].device.name"),
            (NamespaceImage.listFile, ("\"hardwareAddress\" : \"\"", "\"hardwareAddress\" : \"02:00:00:00:00:01\""), "tuns[0].device.hardwareAddress"),
            (NamespaceImage.listFile, ("\"flags\" : 4097", "\"flags\" : 4099"), "tuns[0].flags"),
            (process, ("\"interface\" : \"crtun0\"", "\"interface\" : \"\""), "tunFile.interface"),
            (process, ("\"flags\" : 20482", "\"flags\" : 20480"), "tunFile.flags"),
            (process, ("\"virtioHeaderSize\" : 12", "\"virtioHeaderSize\" : 4"), "tunFile.virtioHeaderSize"),
        ] {
            let copy = try editedCopy(of: image, file: file, replacing: edit.0, with: edit.1)
            try assertRestoreRefused(copy, pid: program.pid, mentioning: [file, field])
        }
        try restore(image, as: program)
        try program.waitForMore("tick", 2, after: program.lineCount)
        assertNoFailures(program)
    }

    /// A persistent device of crtool's namespace (`ip tuntap add`) stays
    /// when the tree is killed, and the restored program is attached to it
    /// again; one that is gone by then refuses the restore before anything
    /// is made, naming it.
    func testAPersistentDeviceOfCrtoolsNamespaceIsJoinedAgain() throws {
        let python = try BuildProducts.requirePython3()
        let name = "crtp\(getpid() % 10000)"
        try ip(["tuntap", "add", name, "mode", "tun"])
        defer { removeDevice(name) }
        let program = try startProgram("tun-attach", python, [script, "attach", name])
        defer { try? stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 2)
        let state = try lastState(program)
        XCTAssertEqual(state, "\(name)/0x1801", "attached, persistent, without packet information")

        let image = try checkpoint(program)
        XCTAssertNotEqual(NetworkInterface.index(ofName: name), 0, "the device outlives the tree")
        try ip(["link", "del", name])
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["persistent tun device \(name)", "ip tuntap add \(name) mode tun"])
        try ip(["tuntap", "add", name, "mode", "tap"])
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["\(name) is now a tap device"])
        try ip(["link", "del", name])
        try ip(["tuntap", "add", name, "mode", "tun"])
        try restore(image, as: program)
        try program.waitForMore("tick", 2, after: program.lineCount)
        XCTAssertEqual(try lastState(program), state)
        assertNoFailures(program)
    }

    /// A device of crtool's namespace that goes with the program's queue,
    /// as a VPN client's tun0 does: gone when the dump kills the program,
    /// made again by the restore with its address and the route through
    /// it, which carry the program's packets again; it goes again with
    /// the restored program. A restore that finds the name taken is
    /// refused before anything is made, and leaves that device alone.
    func testADeviceOfCrtoolsNamespaceThatGoesWithTheTreeIsMadeAgain() throws {
        let python = try BuildProducts.requirePython3()
        let tag = getpid() % 200 + 20
        let name = "crtm\(tag)", net = "10.201.\(tag)", routed = "10.202.\(tag)"
        // IPv4 only: the device's own sysctls are not saved, and its IPv6
        // link-local address, random for a tun device, differs.
        let view = { try self.ipView("ip -d link show \(name); ip -4 address show dev \(name); ip route show dev \(name)") }
        let program = try startProgram("tun-make", python, [script, "make", name, net, routed])
        defer {
            try? stopTree(program.pid)
            removeDevice(name)
        }
        try program.waitFor("tick", atLeast: 2)
        let before = try view()
        XCTAssertTrue(before.contains("\(net).1/24") && before.contains("\(routed).0/24 via \(net).2"), before)
        let state = try lastState(program)
        XCTAssertEqual(state, "\(name)/0x1001", "attached, not persistent")

        let image = try checkpoint(program)
        XCTAssertEqual(NetworkInterface.index(ofName: name), 0, "the device went with the program")
        let show = try crtool(["show", image]).stdout
        XCTAssertTrue(show.contains("a queue of the tun device \(name), made again with \(net).1/24, routes \(routed).0/24 via \(net).2 dev \(name)"), show)

        let process = URL(fileURLWithPath: try ImageFiles(directory: image, pid: program.pid).processFile()).lastPathComponent
        for (edit, field) in [
            (("\"gateway\" : \"\(net).2\"", "\"gateway\" : \"fd00::2\""), "tunFile.routes[0].gateway"),
            (("\"mtu\" : 1500", "\"mtu\" : 20"), "tunFile.device.device.mtu"),
            (("\"address\" : \"\(net).1/24\"", "\"address\" : \"\(net).1/40\""), "tunFile.device.device.addresses[0]"),
        ] {
            let copy = try editedCopy(of: image, file: process, replacing: edit.0, with: edit.1)
            try assertRestoreRefused(copy, pid: program.pid, mentioning: [process, field])
        }
        XCTAssertEqual(NetworkInterface.index(ofName: name), 0, "refused before the device is made")

        // Taken meanwhile by a device of another's.
        try ip(["tuntap", "add", name, "mode", "tap"])
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["the tun device \(name), which fd 3 of pid \(program.pid) made, is already in"])
        XCTAssertTrue(try view().contains("tun type tap"), "the other device is left alone")
        try ip(["link", "del", name])

        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: program.lineCount)
        XCTAssertEqual(try lastState(program), state, "attached again, and not persistent again")
        XCTAssertEqual(try view(), before, "the device, its address and its route")
        assertNoFailures(program)
        try killAndReap(program.pid)
        XCTAssertTrue(poll(timeout: 5) { NetworkInterface.index(ofName: name) == 0 }, "the device goes with the restored program")
    }
}
