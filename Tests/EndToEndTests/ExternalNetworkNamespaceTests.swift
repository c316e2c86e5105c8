import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A network namespace a runtime made (here two named with `ip netns`,
/// each with a bridge crtool would refuse to save, at the same address)
/// is left out of the image with `dump --external net[INODE]:KEY`, and
/// the restore puts the tree in the one given with `--inherit-fd
/// fd[N]:KEY`, its sockets made there, as runc and the CNI runtimes ask
/// of CRIU. fixtures/namespaces/netns.py --here stays in the namespace it
/// was started in and reports FAIL if a byte of its connections is lost,
/// repeated or out of order, or its devices change.
final class ExternalNetworkNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/netns.py"

    func testANetworkNamespaceLeftOutIsEnteredAsGivenWithItsSocketsMadeThere() throws {
        let first = try makeRuntimeNamespace("a")
        let second = try makeRuntimeNamespace("b")
        let port = 7790
        let python = try BuildProducts.requirePython3()
        let program = try startProgram("ext", "/usr/bin/nsenter", ["--net=/run/netns/\(first.name)", python, script, "ext", "\(port)", "--here"]) {
            $0.hasPrefix("ext ready")
        }
        defer { try? stopTree(program.pid) }
        try program.waitFor("ext tick", atLeast: 3)
        XCTAssertEqual(try NamespaceKind.net.id(pid: program.pid), first.id)
        _ = try assertDumpRefused(program, mentioning: ["net:[\(first.id)]", "a bridge device crtool-br0"], namingAnFd: false,
                                  options: ["--tcp-established"])

        let leftOut = "net[\(first.id)]:runtime-net"
        let image = try checkpoint(program, options: ["--tcp-established", "--external", leftOut])
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        XCTAssertEqual(saved.map(\.externalKey), ["runtime-net"])
        XCTAssertNil(saved.first?.veths, "a namespace left out saves nothing of its own")
        let table = try XCTUnwrap(saved.first?.networkLock, "the bridge's packets are held in the namespace, which outlives the tree")
        XCTAssertEqual(try tables(in: first.name), [table])
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("net:[\(first.id)] of the tree's own: left out at the dump: restore --inherit-fd fd[N]:runtime-net"), "\(shown)")

        try waitUntilFree(program.pid)
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["net:[\(first.id)] was left out at the dump", "--inherit-fd fd[N]:runtime-net"])
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["fd 0 is not a network namespace"], options: ["--inherit-fd", "fd[0]:runtime-net"])
        for (edit, field) in [(("\"externalKey\" : \"runtime-net\"", "\"externalKey\" : \"\""), "[0].externalKey"),
                              (("\"networkLock\" : \"\(table)\"", "\"networkLock\" : \"no such; table\""), "[0].networkLock")] {
            let copy = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: edit.0, with: edit.1)
            try assertRestoreRefused(copy, pid: program.pid, mentioning: [NamespaceImage.listFile, field],
                                     options: ["--inherit-fd", "fd[0]:runtime-net"])
        }

        // Into another namespace: the old one keeps the table, the runtime's to delete with it.
        var mark = program.lineCount
        try restore(image, of: program, into: second.name)
        XCTAssertEqual(try NamespaceKind.net.id(pid: program.pid), second.id)
        try program.waitForMore("ext tick", 5, after: mark)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "ext fresh ok", from: mark)
        XCTAssertTrue(try InetSocketTable.read(pid: program.pid, table: "tcp").contains { $0.state == TCPInfo.listen && $0.localPort == UInt16(port) },
                      "the listener is in the namespace given")
        XCTAssertEqual(try tables(in: first.name), [table])
        XCTAssertEqual(try tables(in: second.name), [])

        // And back into the one it was dumped in: the restore takes the dump's table away.
        let again = try checkpoint(program, options: ["--tcp-established", "--external", "net[\(second.id)]:runtime-net"])
        let againTable = try XCTUnwrap(try ImageDirectory.open(at: again).readJSON([NamespaceImage].self, from: NamespaceImage.listFile).first?.networkLock)
        XCTAssertEqual(try tables(in: second.name), [againTable])
        mark = program.lineCount
        try restore(again, of: program, into: second.name)
        XCTAssertEqual(try NamespaceKind.net.id(pid: program.pid), second.id)
        try program.waitForMore("ext tick", 5, after: mark)
        XCTAssertEqual(try tables(in: second.name), [], "the table the dump left in the namespace given back")
        assertSequence(program, "ext tick")
        XCTAssertEqual(program.log.lines().filter { $0.contains("FAIL") }, [])
    }

    /// A dump refuses a namespace to leave out that no process of the tree
    /// has of its own, and a kind it would have to make again.
    func testANamespaceToLeaveOutMustBeTheTreesNetworkNamespace() throws {
        let sleeper = try startFixture("sleeper")
        defer { try? stopTree(sleeper.pid) }
        let own = try NamespaceKind.net.ownID()
        for (external, text) in [("net[\(own)]:mine", "--external net[\(own)]:mine: no process of the tree is in such a namespace of its own"),
                                 ("uts[\(try NamespaceKind.uts.ownID())]:names", "crtool leaves out only a network namespace")] {
            let dir = try scratch.newDirectory("image")
            let refused = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", dir, "--external", external])
            XCTAssertNotEqual(refused.status, .exited(0), "\(refused)")
            XCTAssertTrue(refused.stderr.contains(text), "\(refused)")
            XCTAssertTrue(ProcessTable.isAlive(sleeper.pid))
        }
        let mark = sleeper.lineCount
        _ = try sleeper.waitFor("woke", atLeast: mark + 1)
    }

    /// A namespace named `crtool-ext-PID-TAG` as a runtime makes one: its
    /// loopback up and a bridge at 192.0.2.1/24; deleted when the test ends.
    private func makeRuntimeNamespace(_ tag: String) throws -> (name: String, id: UInt64) {
        let name = "crtool-ext-\(getpid())-\(tag)"
        let commands = [["netns", "add", name], ["-n", name, "link", "set", "lo", "up"], ["-n", name, "link", "add", "crtool-br0", "type", "bridge"],
                        ["-n", name, "addr", "add", "192.0.2.1/24", "dev", "crtool-br0"], ["-n", name, "link", "set", "crtool-br0", "up"]]
        for (i, arguments) in commands.enumerated() {
            let result = try runCommand("/usr/sbin/ip", arguments, outputPrefix: scratch.newPath("ip"), timeout: 10)
            XCTAssertTrue(result.succeeded, "\(arguments): \(result)")
            if i == 0 {
                addTeardownBlock { _ = try? runCommand("/usr/sbin/ip", ["netns", "delete", name], outputPrefix: self.scratch.newPath("ip-delete"), timeout: 10) }
            }
        }
        var st = stat()
        guard stat("/run/netns/\(name)", &st) == 0 else { throw HarnessError("ip netns add \(name) made no /run/netns/\(name)") }
        return (name, UInt64(st.st_ino))
    }

    /// The nftables tables of namespace `name`.
    private func tables(in name: String) throws -> [String] {
        let listed = try runCommand("/usr/sbin/ip", ["netns", "exec", name, "nft", "list", "tables"], outputPrefix: scratch.newPath("nft"), timeout: 10)
        XCTAssertTrue(listed.succeeded, "\(listed)")
        return listed.stdout.split(separator: "\n").compactMap { line in
            line.hasPrefix("table inet ") ? String(line.dropFirst("table inet ".count)) : nil
        }
    }

    /// Restores `image` detached, giving it the namespace `/run/netns/name`.
    private func restore(_ image: String, of program: Fixture, into name: String) throws {
        try waitUntilFree(program.pid)
        let restored = try crtool(opening: "3</run/netns/\(name)", ["restore", "-D", image, "-d", "--inherit-fd", "fd[3]:runtime-net"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertTrue(ProcessTable.isAlive(program.pid), "\(restored)")
    }
}
