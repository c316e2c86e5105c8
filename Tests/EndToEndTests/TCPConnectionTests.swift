import Foundation
import Glibc
import XCTest

/// Established TCP connections, carried over with `--tcp-established`:
/// both ends in the tree with bytes waiting in every queue, a peer outside
/// the tree that keeps its connection, a dump that lets the process run on
/// and one that fails half way, each leaving the connection as it was.
final class TCPConnectionTests: EndToEndCase {
    /// Two ends of one connection in one process: 300000 bytes written by
    /// one end and not read by the other (in flight, partly never sent for
    /// want of window), and lines the other way not read either. After
    /// the restore each end reads exactly the bytes written, once and in
    /// order, and they go on talking.
    func testBothEndsInTheTreeKeepEveryQueuedByte() throws {
        let program = try startPython("tcp-pair", """
            import signal, socket, threading, time
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            a = socket.create_connection(listener.getsockname())
            b, _ = listener.accept()
            blob = bytes(((i * 7) ^ (i >> 8)) & 255 for i in range(300000))
            a.setblocking(False)
            sent = 0
            try:
                while sent < len(blob):
                    sent += a.send(blob[sent:])
            except BlockingIOError:
                pass
            a.setblocking(True)
            reply = b"".join(b"line %d\\n" % i for i in range(2000))
            b.sendall(reply)
            go = threading.Event()
            signal.signal(signal.SIGUSR1, lambda *_: go.set())
            print("queued", sent, flush=True)
            print("ready", flush=True)
            while not go.wait(0.05):
                pass
            threading.Thread(target=lambda: a.sendall(blob[sent:]), daemon=True).start()
            def read(sock, count):
                got = bytearray()
                while len(got) < count:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                return bytes(got)
            print("b read", len(blob), read(b, len(blob)) == blob, flush=True)
            print("a read", len(reply), read(a, len(reply)) == reply, flush=True)
            n = 0
            while True:
                n += 1
                a.sendall(b"tick %d\\n" % n)
                b.sendall(read(b, len(b"tick %d\\n" % n)))
                print("echo", a.recv(100).decode().strip(), flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("queued", atLeast: 1)
        let image = try checkpoint(program, options: ["--tcp-established"])
        let shown = try crtool(["show", image])
        XCTAssertEqual(shown.stdout.components(separatedBy: " established with 127.0.0.1:").count - 1, 2, shown.stdout)
        XCTAssertFalse(shown.stdout.contains(" 0 bytes to send (0 never sent), 0 bytes to read"), "the queues hold bytes: \(shown.stdout)")
        let mark = program.lineCount
        // As a CRIU user would type it: accepted, and not needed.
        try restore(image, as: program, options: ["--tcp-established"])

        try program.signal(SIGUSR1)
        try program.waitFor(line: "b read 300000 True", from: mark)
        try program.waitFor(line: "a read \(2000 * 6 + (0..<2000).reduce(0) { $0 + String($1).count }) True", from: mark)
        try program.waitFor("echo tick", atLeast: 3, from: mark)
        assertNoFailures(program)
    }

    /// The test holds the other end: the server is killed and restored,
    /// twice, and the test's connection, never reset, gets its answers from
    /// the server's counter where it was, on a socket that kept
    /// SO_REUSEADDR.
    func testPeerOutsideTheTreeKeepsItsConnection() throws {
        let server = try startEchoServer()
        let client = try connect(to: server)
        XCTAssertEqual(try client.ask("one\n"), "echo 1 one reuse 1\n")
        try roundTrip(server, options: ["--tcp-established"])
        XCTAssertEqual(try client.ask("two\n"), "echo 2 two reuse 1\n")
        try roundTrip(server, options: ["--tcp-established"])
        XCTAssertEqual(try client.ask("three\n"), "echo 3 three reuse 1\n")
        assertNoFailures(server)
    }

    /// The same over IPv6.
    func testIPv6PeerOutsideTheTreeKeepsItsConnection() throws {
        let server = try startEchoServer(host: "::1")
        let client = try connect(to: server, host: "::1")
        XCTAssertEqual(try client.ask("one\n"), "echo 1 one reuse 1\n")
        let (image, _) = try roundTrip(server, options: ["--tcp-established"])
        XCTAssertEqual(try client.ask("two\n"), "echo 2 two reuse 1\n")
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("tcp ipv6 ::1:"))
        assertNoFailures(server)
    }

    /// --leave-running: the connection leaves repair mode with its
    /// SO_REUSEADDR and carries on; a dump after it carries it over again.
    func testLeaveRunningKeepsTheConnection() throws {
        let server = try startEchoServer()
        let client = try connect(to: server)
        XCTAssertEqual(try client.ask("one\n"), "echo 1 one reuse 1\n")
        _ = try checkpoint(server, options: ["--tcp-established", "--leave-running"])
        XCTAssertEqual(try client.ask("two\n"), "echo 2 two reuse 1\n")
        try roundTrip(server, options: ["--tcp-established"])
        XCTAssertEqual(try client.ask("three\n"), "echo 3 three reuse 1\n")
        assertNoFailures(server)
    }

    /// A dump that fails after it put the connection in repair mode (a
    /// descriptor after it, of a network namespace, is refused) lets the
    /// connection go on untouched.
    func testFailedDumpLeavesTheConnectionWorking() throws {
        let server = try startEchoServer(holdingANamespace: true)
        let client = try connect(to: server)
        XCTAssertEqual(try client.ask("one\n"), "echo 1 one reuse 1\n")

        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(server.pid)", "-D", dir, "--tcp-established"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("unsupported file (net:["), "\(result)")
        XCTAssertFalse(fileExists(dir + "/manifest.json"))
        XCTAssertEqual(try client.ask("two\n"), "echo 2 two reuse 1\n")
        XCTAssertEqual(heldPacketTables(), [], "the failed dump let the packets go")
        assertRunningFree(server)
    }

    /// crtool killed outright (kill -9, the OOM killer) with the connection
    /// in repair mode and its packets held: the server runs on, as the
    /// kernel lets a dead tracer's tracees go, and crtool-guard takes the
    /// socket out of repair mode with its SO_REUSEADDR and removes the
    /// table, so the connection answers again and nothing is left held.
    /// The guard acts only once crtool is gone, after its tracees may run:
    /// this server sleeps between reads (the dump finds it in nanosleep),
    /// as a server that called recv in that instant would get EPERM.
    func testDumpKilledOutrightLeavesTheConnectionWorking() throws {
        let server = try startPython("tcp-sleepy-echo", """
            import select, socket, time
            \(pythonListener)
            conn = listening().accept()[0]
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            print("accepted", flush=True)
            n = 0
            while True:
                time.sleep(0.3)
                if not select.select([conn], [], [], 0)[0]:
                    continue
                line = conn.recv(100).strip()
                if not line:
                    break
                n += 1
                reuse = conn.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
                conn.sendall(b"echo %d %s reuse %d\\n" % (n, line, reuse))
            """)
        let client = try connect(to: server)
        XCTAssertEqual(try client.ask("one\n"), "echo 1 one reuse 1\n")
        try server.waitFor(line: "accepted")
        usleep(50_000)

        let dir = try scratch.newDirectory("image")
        let killed = try runCommand("/usr/bin/env", ["CRTOOL_FAULT_KILL_AT=state-read", BuildProducts.crtool,
                                                     "dump", "-t", "\(server.pid)", "-D", dir, "--tcp-established"],
                                    outputPrefix: scratch.newPath("crtool"), timeout: 60)
        XCTAssertEqual(killed.status, .signaled(SIGKILL), "\(killed)")
        XCTAssertEqual(try client.ask("two\n"), "echo 2 two reuse 1\n")
        XCTAssertEqual(heldPacketTables(), [], "the guard let the packets go")
        assertRunningFree(server)
        assertNoFailures(server)
    }

    /// An urgent byte the server has not read cannot be put back by repair
    /// mode: the dump is refused, naming it, rather than losing it, and
    /// the server runs on and reads the byte when it gets to it.
    func testUnreadUrgentByteRefusesTheDumpAndStaysForTheProgram() throws {
        let trigger = scratch.newPath("go")
        let server = try startPython("tcp-urgent", """
            import os, socket, sys, time
            \(pythonListener)
            conn = listening().accept()[0]
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.02)
            print("urgent", conn.recv(1, socket.MSG_OOB).decode(), flush=True)
            print("then", conn.recv(100).decode().strip(), flush=True)
            while True:
                time.sleep(1)
            """, [trigger])
        let client = try connect(to: server)
        try client.send("before\n")
        XCTAssertEqual(send(client.fd, "!", 1, Int32(MSG_OOB)), 1)
        usleep(100_000)

        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(server.pid)", "-D", dir, "--tcp-established"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("urgent (out-of-band) byte"), "\(result)")
        XCTAssertEqual(heldPacketTables(), [])
        XCTAssertTrue(FileManager.default.createFile(atPath: trigger, contents: Data()))
        _ = try server.waitFor(line: "urgent !")
        _ = try server.waitFor(line: "then before")
        assertRunningFree(server)
    }

    /// A peer that keeps sending through the dump, the time between, and
    /// the restore: its packets are held (nftables) from the moment the
    /// dump takes the connection until the restore lets them go, so it is
    /// never reset, sends again what went unanswered, and every line is
    /// answered once, in order, by the restored server.
    func testPeerSendingThroughDumpAndRestoreLosesNothing() throws {
        let (server, client, sender) = try startEchoServerWithBusyPeer(ballast: 256)
        let image = try checkpoint(server, options: ["--tcp-established"])
        let table = try XCTUnwrap(heldPacketTables().first, "the packets are held between dump and restore")
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("packets held by nftables table \(table)"))
        XCTAssertTrue(shown.contains("to let them go without restoring: nft delete table inet \(table)"), shown)
        try restore(image, as: server)
        XCTAssertEqual(heldPacketTables(), [], "the restore let the packets go")
        usleep(100_000)
        let sent = sender.stop()

        try expectEveryLineAnswered(client, sent: sent)
        assertNoFailures(server)
    }

    /// The same for a connection an IPv6 listener accepted from an IPv4
    /// peer (its socket's addresses read ::ffff:127.0.0.1): the packets
    /// on the wire are IPv4, and the hold must catch them as such.
    func testIPv4PeerOfADualStackListenerLosesNothing() throws {
        let (server, client, sender) = try startEchoServerWithBusyPeer(ballast: 256, host: "::", clientHost: "127.0.0.1")
        let image = try checkpoint(server, options: ["--tcp-established"])
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("::ffff:127.0.0.1"))
        try restore(image, as: server)
        usleep(100_000)
        let sent = sender.stop()

        try expectEveryLineAnswered(client, sent: sent)
        assertNoFailures(server)
    }

    /// A server with 100 clients: one dump holds the packets of them all.
    /// Every client sends a line while the server exists only as an image;
    /// each is answered by the restored server, on its own connection,
    /// with that connection's own count.
    func testManyPeersAreHeldAndAnsweredAfterTheRestore() throws {
        let count = 100
        let server = try startPython("tcp-many", """
            import selectors, socket, sys
            \(pythonListener)
            listener = listening(backlog=200)
            selector = selectors.DefaultSelector()
            selector.register(listener, selectors.EVENT_READ)
            lines = {}
            while True:
                for key, _ in selector.select():
                    if key.fileobj is listener:
                        conn = listener.accept()[0]
                        lines[conn] = 0
                        selector.register(conn, selectors.EVENT_READ)
                        print("accepted", len(lines), flush=True)
                        continue
                    conn = key.fileobj
                    data = conn.recv(4096)
                    if not data:
                        selector.unregister(conn)
                        continue
                    for line in data.split(b"\\n")[:-1]:
                        lines[conn] += 1
                        conn.sendall(b"%d %s\\n" % (lines[conn], line))
            """)
        let port = UInt16(try server.waitFor("port", atLeast: 1))
        var clients: [SocketClient] = []
        for i in 0..<count {
            let client = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
            XCTAssertEqual(try client.ask("hello \(i)\n"), "1 hello \(i)\n")
            clients.append(client)
        }
        let image = try scratch.newDirectory("image")
        let dump = try crtool(["dump", "-t", "\(server.pid)", "-D", image, "--tcp-established"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertTrue(dump.stdout.contains(", \(count) TCP connections, "), "the summary counts them: \(dump)")
        XCTAssertNotNil(try waitForExit(server.pid, timeout: 10))
        try waitUntilFree(server.pid)
        XCTAssertEqual(try crtool(["show", image]).stdout.components(separatedBy: "packets held by nftables table").count - 1, count)
        for (i, client) in clients.enumerated() { try client.send("again \(i)\n") }
        try restore(image, as: server)
        XCTAssertEqual(heldPacketTables(), [], "the restore let the packets go")
        for (i, client) in clients.enumerated() {
            XCTAssertEqual(try client.receive(timeout: 20), "2 again \(i)\n")
        }
        assertNoFailures(server)
    }

    /// Without the hold (--network-lock skip), what arrives after the
    /// connection was read is taken and acknowledged by the socket in
    /// repair mode, so a dump that killed the server would lose it. The
    /// dump fails instead, naming the connection, and the server answers
    /// every line once it runs on.
    func testDumpFailsRatherThanLoseWhatArrivesDuringIt() throws {
        // 512 MiB to read, so the dump takes long after the socket is read.
        let (server, client, sender) = try startEchoServerWithBusyPeer(ballast: 512)
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(server.pid)", "-D", dir, "--tcp-established", "--network-lock", "skip"])
        let sent = sender.stop()

        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("took packets"), "\(result)")
        XCTAssertFalse(fileExists(dir + "/manifest.json"))
        try expectEveryLineAnswered(client, sent: sent)
        assertRunningFree(server)
    }

    // MARK: - The echo server

    /// The echo server with `ballast` MiB, answering "one" to the test's
    /// client, which then sends "x" every 2 ms until stopped.
    private func startEchoServerWithBusyPeer(ballast: Int, host: String = "127.0.0.1",
                                             clientHost: String = "127.0.0.1") throws -> (Fixture, SocketClient, BackgroundSender) {
        let server = try startEchoServer(ballast: ballast, host: host)
        let client = try connect(to: server, host: clientHost)
        XCTAssertEqual(try client.ask("one\n"), "echo 1 one reuse 1\n")
        return (server, client, BackgroundSender(client))
    }

    /// After "one" was answered and `sent` lines of "x" went out: "last"
    /// is answered after an answer for each, in order.
    private func expectEveryLineAnswered(_ client: SocketClient, sent: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertGreaterThan(sent, 0, file: file, line: line)
        try client.send("last\n")
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        // Until the last answer's whole line is in: a read can end inside it.
        while !(text.contains(" last reuse ") && text.hasSuffix("\n")), Date() < deadline { text += try client.receive(timeout: 20) }
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, sent + 1, "one answer for each line sent, and the last", file: file, line: line)
        XCTAssertEqual(lines, (0..<sent).map { "echo \($0 + 2) x reuse 1" } + ["echo \(sent + 2) last reuse 1"], file: file, line: line)
    }

    /// Accepts a connection, then answers each of its lines with a
    /// counter and its socket's SO_REUSEADDR (set on it); `megabytes` of
    /// memory, not zero, make its dump take longer. `holdingANamespace`
    /// opens a descriptor crtool refuses once the connection is accepted.
    private func startEchoServer(ballast megabytes: Int = 0, host: String = "127.0.0.1", holdingANamespace: Bool = false) throws -> Fixture {
        try startPython("tcp-echo", """
            import os, socket, sys
            ballast = bytearray(b"\\x01") * (int(sys.argv[2]) << 20)
            \(pythonListener)
            conn = listening(sys.argv[3]).accept()[0]
            print("accepted", flush=True)
            if sys.argv[1] == "1":
                namespace = os.open("/proc/self/ns/net", os.O_RDONLY)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            \(pythonLines)
            for n, line in enumerate(lines(conn), 1):
                reuse = conn.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
                conn.sendall(b"echo %d %s reuse %d\\n" % (n, line, reuse))
            """, [holdingANamespace ? "1" : "0", "\(megabytes)", host])
    }

    private func connect(to server: Fixture, host: String = "127.0.0.1") throws -> SocketClient {
        let port = try server.waitFor("port", atLeast: 1)
        return try SocketClient(connectingTo: .inet(host: host, port: UInt16(port)))
    }
}

/// Sends "x\n" every 2 ms from a thread of its own until stopped.
private final class BackgroundSender: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var sent = 0
    private let done = DispatchSemaphore(value: 0)

    init(_ client: SocketClient) {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                if (try? client.send("x\n")) != nil { lock.withLock { sent += 1 } }
                usleep(2000)
            }
            done.signal()
        }
    }

    /// Stops sending; how many lines went out.
    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { sent }
    }
}
