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
        let first = try makeRuntimeNetworkNamespace("a")
        let second = try makeRuntimeNetworkNamespace("b")
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
        XCTAssertEqual(try nftTables(inNamespace: first.name), [table])
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
        try restore(image, pid: program.pid, givingNamespace: second.name, for: "runtime-net")
        XCTAssertEqual(try NamespaceKind.net.id(pid: program.pid), second.id)
        try program.waitForMore("ext tick", 5, after: mark)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "ext fresh ok", from: mark)
        XCTAssertTrue(try InetSocketTable.read(pid: program.pid, table: "tcp").contains { $0.state == TCPInfo.listen && $0.localPort == UInt16(port) },
                      "the listener is in the namespace given")
        XCTAssertEqual(try nftTables(inNamespace: first.name), [table])
        XCTAssertEqual(try nftTables(inNamespace: second.name), [])

        // And back into the one it was dumped in: the restore takes the dump's table away.
        let again = try checkpoint(program, options: ["--tcp-established", "--external", "net[\(second.id)]:runtime-net"])
        let againTable = try XCTUnwrap(try ImageDirectory.open(at: again).readJSON([NamespaceImage].self, from: NamespaceImage.listFile).first?.networkLock)
        XCTAssertEqual(try nftTables(inNamespace: second.name), [againTable])
        mark = program.lineCount
        try restore(again, pid: program.pid, givingNamespace: second.name, for: "runtime-net")
        XCTAssertEqual(try NamespaceKind.net.id(pid: program.pid), second.id)
        try program.waitForMore("ext tick", 5, after: mark)
        XCTAssertEqual(try nftTables(inNamespace: second.name), [], "the table the dump left in the namespace given back")
        assertSequence(program, "ext tick")
        XCTAssertEqual(program.log.lines().filter { $0.contains("FAIL") }, [])
    }

    /// A dump refuses a namespace to leave out that no process of the tree
    /// has of its own, and a kind it would have to make again.
    func testANamespaceToLeaveOutMustBeTheTreesAndOfAKindLeftOut() throws {
        let sleeper = try startFixture("sleeper")
        defer { try? stopTree(sleeper.pid) }
        let own = try NamespaceKind.net.ownID()
        for (external, text) in [("net[\(own)]:mine", "--external net[\(own)]:mine: no process of the tree is in such a namespace of its own"),
                                 ("pid[\(try NamespaceKind.pid.ownID())]:pids", "crtool leaves out only network, UTS and IPC namespaces"),
                                 ("net[\(own)]", "a namespace is left out as KIND[INODE]:KEY")] {
            let dir = try scratch.newDirectory("image")
            let refused = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", dir, "--external", external])
            XCTAssertNotEqual(refused.status, .exited(0), "\(refused)")
            XCTAssertTrue(refused.stderr.contains(text), "\(refused)")
            XCTAssertTrue(ProcessTable.isAlive(sleeper.pid))
        }
        let mark = sleeper.lineCount
        _ = try sleeper.waitFor("woke", atLeast: mark + 1)
    }
}
