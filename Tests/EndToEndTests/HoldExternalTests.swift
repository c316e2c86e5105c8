import Glibc
import XCTest

/// `dump --hold-external`: files the tree shares with a process outside it
/// stay open in crtool-keeper from the dump to the restore, which takes the
/// very files back. A reader of the program's output and a server it is
/// connected to see neither an end of file nor a hang-up, and the program
/// carries on with the same pipe or connection.
final class HoldExternalTests: EndToEndCase {
    /// A reader outside the tree, the parent of a program writing a counter
    /// into a pipe to it: one line each, none lost or repeated.
    func testPipeToAReaderOutsideTheTreeCarriesOn() throws {
        let (reader, writer) = try startReaderOfChild()
        defer { try? stopTree(reader.pid, others: [writer]) }
        _ = try reader.waitFor("got", atLeast: 5)

        let (dir, keeper) = try dumpHoldingExternal(writer)
        let mark = reader.lineCount
        usleep(300_000)
        XCTAssertFalse(reader.log.lines().contains("eof"), "the reader saw the pipe end while the program was an image")
        XCTAssertTrue(ProcessTable.isAlive(keeper), "crtool-keeper \(keeper) holds the pipe until the restore")
        let shown = try crtool(["show", dir]).stdout
        XCTAssertTrue(shown.contains("kept open by crtool-keeper pid \(keeper)") && shown.contains("kill \(keeper)"), shown)
        let check = try crtool(["restore", "-D", dir, "--check-only"])
        XCTAssertTrue(check.succeeded, "the keeper holds the pipe: \(check)")
        XCTAssertTrue(ProcessTable.isAlive(keeper), "the check leaves crtool-keeper \(keeper) holding the pipe")
        usleep(100_000)
        XCTAssertFalse(reader.log.lines().contains("eof"), "the check leaves the pipe open")

        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertTrue(restored.stdout.contains("1 shared outside taken back from crtool-keeper (pid \(keeper), ended)"), restored.stdout)
        try reader.waitForMore("got", 20, after: mark)
        XCTAssertNil(LogLines.breakInSequence(reader.numbers("got"), startingAt: 1), "every number once, in order")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(keeper) }, "the restore ends crtool-keeper once it has the pipe back")

        // Nobody else holds the write end now: the program's end is the last.
        Glibc.kill(writer, SIGKILL)
        XCTAssertTrue(poll(timeout: 10) { reader.log.lines().contains("eof") }, "the reader sees the end once the restored program is gone")
    }

    /// With --leave-stopped the original waits, stopped, holding its end
    /// too; killed, it leaves the pipe to the keeper, and the restore
    /// carries on where the image stands.
    func testLeftStoppedOriginalCanBeKilledAndRestored() throws {
        let (reader, writer) = try startReaderOfChild()
        defer { try? stopTree(reader.pid, others: [writer]) }
        _ = try reader.waitFor("got", atLeast: 5)
        let dir = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(writer)", "-D", dir, "--hold-external", "--leave-stopped"])
        XCTAssertTrue(dumped.succeeded && dumped.stdout.contains("held by crtool-keeper"), "\(dumped)")
        XCTAssertTrue(poll(timeout: 5) { ProcessTable.isStopped(writer) }, "the original is stopped")
        try killAndReap(writer)
        let mark = reader.lineCount
        usleep(200_000)
        XCTAssertFalse(reader.log.lines().contains("eof"), "the keeper holds the pipe once the original is gone")

        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        try reader.waitForMore("got", 20, after: mark)
        XCTAssertNil(LogLines.breakInSequence(reader.numbers("got"), startingAt: 1), "every number once, in order")
    }

    /// A unix stream connection to a server outside the tree: the program
    /// asks and the server answers on the same connection across the dump.
    func testConnectionToAServerOutsideTheTreeCarriesOn() throws {
        let (server, client) = try startServerOfChild(socketType: "SOCK_STREAM", serving: """
            \(Self.answering("mine"))
            while True:
                time.sleep(1)
            """, child: Self.asking("s"))
        defer { try? stopTree(server.pid, others: [client]) }
        _ = try server.waitFor("got", atLeast: 5)

        let refusal = try crtool(["dump", "-t", "\(client)", "-D", try scratch.newDirectory("refused")])
        XCTAssertFalse(refusal.succeeded, "refused without --hold-external: \(refusal)")
        XCTAssertTrue(refusal.stderr.contains("--hold-external"), "the refusal says what would take it: \(refusal)")
        try assertRequestsCarryOn(server, client: client)
        XCTAssertFalse(server.log.lines().contains("eof"), "the server never saw the connection end")
    }

    /// A datagram socketpair between a supervisor outside the tree and the
    /// program: each request one datagram, each answer one datagram.
    func testDatagramPairWithAProcessOutsideTheTreeCarriesOn() throws {
        let (server, client) = try startServerOfChild(socketType: "SOCK_DGRAM", serving: """
            while True:
                n = int(mine.recv(100))
                print("got", n, flush=True)
                mine.send(b"ack %d" % n)
            """, child: """
            n = 0
            while True:
                n += 1
                s.send(b"%d" % n)
                if s.recv(100) != b"ack %d" % n:
                    sys.exit(3)
                time.sleep(0.02)
            """)
        defer { try? stopTree(server.pid, others: [client]) }
        _ = try server.waitFor("got", atLeast: 5)

        try assertRequestsCarryOn(server, client: client)
    }

    /// A unix server with clients waiting in its listener's queue: the
    /// listener, and with it their connections, are kept, and the restored
    /// server accepts and answers each of them.
    func testConnectionsWaitingToBeAcceptedAreAnsweredAfterTheRestore() throws {
        let path = scratch.newPath("server.sock")
        let server = try startPython("server", """
            import os, signal, socket, sys
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(sys.argv[1])
            listener.listen(8)
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
            print("ready", flush=True)
            signal.sigwait([signal.SIGUSR1])
            while True:
                conn, _ = listener.accept()
                line = conn.makefile("r").readline()
                conn.sendall(("answer to %s" % line).encode())
                conn.close()
            """, [path])
        defer { try? killAndReap(server.pid) }
        let first = try SocketClient(connectingTo: .unixPath(path))
        try first.send("first\n")
        let second = try SocketClient(connectingTo: .unixPath(path))
        try second.send("second\n")

        let refusal = try crtool(["dump", "-t", "\(server.pid)", "-D", try scratch.newDirectory("refused")])
        XCTAssertTrue(!refusal.succeeded && refusal.stderr.contains("2 connections not yet accepted") && refusal.stderr.contains("--hold-external"),
                      "\(refusal)")
        let (dir, keeper) = try dumpHoldingExternal(server.pid)
        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        try server.signal(SIGUSR1)
        XCTAssertEqual(try first.receive(timeout: 10), "answer to first\n")
        XCTAssertEqual(try second.receive(timeout: 10), "answer to second\n")
        let third = try SocketClient(connectingTo: .unixPath(path))
        XCTAssertEqual(try third.ask("third\n"), "answer to third\n", "the listener takes new clients too")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(keeper) }, "crtool-keeper ended by the restore")
    }

    /// A TCP connection to a server outside the tree, without
    /// --tcp-established: the keeper holds the connection itself, so the
    /// server goes on with the one connection it accepted, and no packet
    /// is dropped or sent again.
    func testTCPConnectionIsKeptWithoutRepairMode() throws {
        let server = try startPython("server", """
            import socket
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            print("port", listener.getsockname()[1], flush=True)
            print("ready", flush=True)
            conn, _ = listener.accept()
            print("accepted", flush=True)
            \(Self.answering("conn"))
            """)
        defer { try? killAndReap(server.pid) }
        let port = try server.waitFor("port", atLeast: 1)
        let client = try startPython("client", """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            print("ready", flush=True)
            \(Self.asking("s", printing: "tick"))
            """, ["\(port)"])
        defer { try? killAndReap(client.pid) }
        try client.waitFor("tick", atLeast: 5)

        let refusal = try crtool(["dump", "-t", "\(client.pid)", "-D", try scratch.newDirectory("refused")])
        XCTAssertTrue(!refusal.succeeded && refusal.stderr.contains("--hold-external"), "\(refusal)")
        let (dir, keeper) = try dumpHoldingExternal(client.pid)
        let mark = client.lineCount
        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        try client.waitForMore("tick", 20, after: mark)
        XCTAssertNil(LogLines.breakInSequence(client.numbers("tick"), startingAt: 1))
        XCTAssertNil(LogLines.breakInSequence(server.numbers("got"), startingAt: 1), "every request once, in order")
        XCTAssertEqual(server.log.lines().filter { $0 == "accepted" }.count, 1, "one connection from start to end")
        XCTAssertFalse(server.log.lines().contains("eof"))
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(keeper) }, "crtool-keeper ended by the restore")
    }

    /// A server's listeners are kept too: a client that connects while
    /// the server is only an image, by TCP or by a unix name, waits in the
    /// listener's queue and is answered after the restore, where it would
    /// have been refused; a datagram sent to its UDP socket meanwhile
    /// waits in that socket's queue, where it would have been dropped.
    func testClientsConnectingWhileTheServerIsAnImageAreAnswered() throws {
        let name = "crtool-test-held-\(getpid())"
        let server = try startPython("server", """
            import selectors, socket, sys
            tcp = socket.socket()
            tcp.bind(("127.0.0.1", 0))
            tcp.listen(8)
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind("\\0" + sys.argv[1])
            unix.listen(8)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            print("port", tcp.getsockname()[1], flush=True)
            print("udp", udp.getsockname()[1], flush=True)
            print("ready", flush=True)
            waiting = selectors.DefaultSelector()
            waiting.register(tcp, selectors.EVENT_READ)
            waiting.register(unix, selectors.EVENT_READ)
            waiting.register(udp, selectors.EVENT_READ)
            while True:
                for key, _ in waiting.select():
                    if key.fileobj is udp:
                        data, sender = udp.recvfrom(100)
                        udp.sendto(b"answer to " + data, sender)
                        continue
                    conn, _ = key.fileobj.accept()
                    line = conn.makefile("r").readline()
                    conn.sendall(("answer to %s" % line).encode())
                    conn.close()
            """, [name])
        defer { try? killAndReap(server.pid) }
        let port = UInt16(try server.waitFor("port", atLeast: 1))
        let udpPort = UInt16(try server.waitFor("udp", atLeast: 1))
        XCTAssertEqual(try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port)).ask("before\n"), "answer to before\n")

        let (dir, keeper) = try dumpHoldingExternal(server.pid)
        let byTCP = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        try byTCP.send("tcp\n")
        let byName = try SocketClient(connectingTo: .unixAbstract(Array(name.utf8)))
        try byName.send("unix\n")
        let byUDP = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: udpPort), type: Int32(SOCK_DGRAM.rawValue))
        try byUDP.send("udp")
        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertEqual(try byTCP.receive(timeout: 10), "answer to tcp\n")
        XCTAssertEqual(try byName.receive(timeout: 10), "answer to unix\n")
        XCTAssertEqual(try byUDP.receive(timeout: 10), "answer to udp", "a datagram sent meanwhile waited for the server")
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(keeper) }, "crtool-keeper ended by the restore")
    }

    /// The keeper was killed before the restore: the reader saw the end of
    /// the pipe, and the restore says so before it makes anything, as the
    /// check does.
    func testRestoreFailsClearlyWhenTheKeeperIsGone() throws {
        let (reader, writer) = try startReaderOfChild()
        defer { try? stopTree(reader.pid, others: [writer]) }
        _ = try reader.waitFor("got", atLeast: 3)
        let (dir, keeper) = try dumpHoldingExternal(writer)
        Glibc.kill(keeper, SIGKILL)
        XCTAssertTrue(poll(timeout: 10) { reader.log.lines().contains("eof") }, "the keeper held the last write end")

        try assertRestoreRefused(dir, pid: writer, mentioning: ["fd 1 of pid \(writer)", "crtool-keeper pid \(keeper)", "has ended"])
        XCTAssertEqual(liveProcessesStartedHere().filter { $0 != reader.pid }, [], "the failed restore left processes behind")
    }

    /// A dump that fails after crtool-keeper took the pipe (an io_uring
    /// instance further down the descriptor table is refused) ends the
    /// keeper: the program runs on with its pipe, the reader never sees
    /// an end.
    func testFailedDumpLeavesNoKeeper() throws {
        let ioUringSetup = "__import__('ctypes').CDLL(None).syscall(425, 4, __import__('ctypes').create_string_buffer(120))"
        let (reader, writer) = try startReaderOfChild(alsoOpen: ioUringSetup)
        defer { try? stopTree(reader.pid, others: [writer]) }
        _ = try reader.waitFor("got", atLeast: 3)
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(writer)", "-D", dir, "--hold-external"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("io_uring"), "\(result)")
        XCTAssertFalse(fileExists(dir + "/manifest.json"))
        XCTAssertEqual(liveProcessesStartedHere().filter { readTextFile("/proc/\($0)/comm") == "crtool-keeper\n" }, [], "no keeper left")
        let mark = reader.lineCount
        try reader.waitForMore("got", 5, after: mark)
        XCTAssertNil(LogLines.breakInSequence(reader.numbers("got"), startingAt: 1))
        XCTAssertFalse(reader.log.lines().contains("eof"))

        let running = try crtool(["dump", "-t", "\(writer)", "-D", try scratch.newDirectory("running"), "--hold-external", "-R"])
        XCTAssertFalse(running.succeeded, "\(running)")
        XCTAssertTrue(running.stderr.contains("--hold-external") && running.stderr.contains("left running"), "\(running)")
        XCTAssertTrue(ProcessTable.isAlive(writer))
    }

    /// A reader that forks the program, whose standard output is a pipe to
    /// the reader: it prints "got N" for each number the program writes,
    /// and "eof" when the pipe ends. `alsoOpen` is Python the program runs
    /// first (descriptors it keeps open).
    private func startReaderOfChild(alsoOpen: String = "None") throws -> (Fixture, pid_t) {
        let reader = try startPython("reader", """
            import os, signal, sys, time
            r, w = os.pipe()
            child = os.fork()
            if child == 0:
                os.close(r)
                os.dup2(w, 1)
                os.close(w)
                os.execv(sys.executable, [sys.executable, "-E", "-c", sys.argv[1]])
            os.close(w)
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            print("child", child, flush=True)
            print("ready", flush=True)
            for line in os.fdopen(r, "rb"):
                print("got", int(line), flush=True)
            print("eof", flush=True)
            while True:
                time.sleep(1)
            """, ["""
            import os, sys, time
            kept = \(alsoOpen)
            n = 0
            while True:
                n += 1
                os.write(1, b"%d\\n" % n)
                time.sleep(0.02)
            """])
        return (reader, pid_t(try reader.waitFor("child", atLeast: 1)))
    }

    /// Dumps `client` with --hold-external, restores it, and checks that
    /// `server` got every request once and in order, 20 more after the
    /// restore, that the client got every answer it expected, and that
    /// the keeper is gone.
    private func assertRequestsCarryOn(_ server: Fixture, client: pid_t,
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let (dir, keeper) = try dumpHoldingExternal(client)
        let mark = server.lineCount
        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)", file: file, line: line)
        try server.waitForMore("got", 20, after: mark)
        XCTAssertNil(LogLines.breakInSequence(server.numbers("got"), startingAt: 1), "every request once, in order, on one connection",
                     file: file, line: line)
        XCTAssertTrue(ProcessTable.isAlive(client), "the client got every answer it expected", file: file, line: line)
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(keeper) }, "crtool-keeper ended by the restore", file: file, line: line)
    }

    /// A server that forks the program with one end of a unix socketpair
    /// of `socketType` as its fd 3 (`s` in `child`, Python run by the
    /// program) and keeps the other (`mine` in `serving`, Python it runs
    /// once it has said "ready"), reaping the program when it dies.
    private func startServerOfChild(socketType: String, serving: String, child: String) throws -> (Fixture, pid_t) {
        let server = try startPython("server", """
            import os, signal, socket, sys, time
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.\(socketType))
            child = os.fork()
            if child == 0:
                mine.close()
                os.dup2(theirs.fileno(), 3)
                os.execv(sys.executable, [sys.executable, "-E", "-c", sys.argv[1]])
            theirs.close()
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            print("child", child, flush=True)
            print("ready", flush=True)
            \(serving)
            """, ["""
            import socket, sys, time
            s = socket.socket(fileno=3)
            \(child)
            """])
        return (server, pid_t(try server.waitFor("child", atLeast: 1)))
    }

    /// Python that answers each number the stream socket `conn` sends
    /// with "ack N", printing "got N", and "eof" at its end.
    private static func answering(_ conn: String) -> String {
        """
        for line in \(conn).makefile("rb"):
            n = int(line)
            print("got", n, flush=True)
            \(conn).sendall(b"ack %d\\n" % n)
        print("eof", flush=True)
        """
    }

    /// Python that sends 1, 2, 3, ... on the stream socket `s`, each once
    /// the one before was answered (exiting 3 on a wrong answer), and
    /// prints "`printing` N" for each answer when asked to.
    private static func asking(_ s: String, printing label: String? = nil) -> String {
        """
        answers = \(s).makefile("rb")
        n = 0
        while True:
            n += 1
            \(s).sendall(b"%d\\n" % n)
            if answers.readline() != b"ack %d\\n" % n:
                sys.exit(3)
            \(label.map { "print(\"\($0)\", n, flush=True)" } ?? "pass")
            time.sleep(0.02)
        """
    }

    /// Dumps `pid` with --hold-external, which must succeed, and waits
    /// until its pid is free (reaping it if it is this process's child);
    /// returns the image and the keeper's pid, which the dump's summary
    /// names.
    private func dumpHoldingExternal(_ pid: pid_t) throws -> (String, pid_t) {
        let dir = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(pid)", "-D", dir, "--hold-external"])
        guard dumped.succeeded, let range = dumped.stdout.range(of: "held by crtool-keeper pid "),
              let keeper = pid_t(dumped.stdout[range.upperBound...].prefix { $0.isNumber }) else {
            throw HarnessError("the dump did not succeed naming a crtool-keeper: \(dumped)")
        }
        try reapAll([pid])
        return (dir, keeper)
    }
}
