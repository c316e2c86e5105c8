import Foundation
import Glibc
import Ptrace
import XCTest

/// TCP connections closed on one side, carried over with
/// `--tcp-established`: a peer that sent its FIN (the program's socket in
/// CLOSE_WAIT), a program that ended its own sending side (FIN_WAIT2), and
/// one whose FIN was not yet acknowledged after both sides ended
/// (LAST_ACK). Each comes back in its state and goes on to a clean close.
final class TCPHalfClosedTests: EndToEndCase {
    /// The client sends a request and ends its side; the server, told to
    /// go on only after the restore, reads the request and then end of
    /// file, answers, and closes: the client gets the answer, then end of
    /// file.
    func testPeerThatEndedItsSideIsAnsweredAfterTheRestore() throws {
        try expectAnswerAfterTheRestore(host: "127.0.0.1", clientHost: "127.0.0.1")
    }

    /// The same over IPv6: the FIN is handed over in an IPv6 packet.
    func testIPv6PeerThatEndedItsSideIsAnsweredAfterTheRestore() throws {
        try expectAnswerAfterTheRestore(host: "::1", clientHost: "::1")
    }

    /// The same for an IPv4 client of a dual-stack listener: its socket
    /// names the addresses ::ffff:127.0.0.1, the FIN goes as IPv4.
    func testIPv4PeerOfADualStackListenerThatEndedItsSideIsAnswered() throws {
        try expectAnswerAfterTheRestore(host: "::", clientHost: "127.0.0.1")
    }

    private func expectAnswerAfterTheRestore(host: String, clientHost: String) throws {
        let trigger = scratch.newPath("go")
        let server = try startServer("tcp-close-wait", host: host, trigger: trigger, """
            conn = accept()
            print("accepted", flush=True)
            wait_for_trigger()
            data = read_to_end(conn)
            print("read", data.decode().strip(), flush=True)
            conn.sendall(b"answer to " + data)
            conn.close()
            print("closed", flush=True)
            """)
        let client = try connect(to: server, host: clientHost)
        _ = try server.waitFor(line: "accepted")
        try client.send("request\n")
        try client.finishSending()
        usleep(100_000)

        let image = try checkpoint(server, options: ["--tcp-established"])
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("half closed (CLOSE_WAIT)"))
        try restore(image, as: server)
        try touch(trigger)
        _ = try server.waitFor(line: "closed")
        XCTAssertTrue(server.log.lines().contains("read request"), server.log.tail())
        XCTAssertEqual(try client.receive(timeout: 10), "answer to request\n")
        XCTAssertEqual(try client.receive(timeout: 10), "", "end of file once the server closed")
        assertNoFailures(server)
    }

    /// The server sends its greeting and ends its side, the client (which
    /// has read the greeting and end of file) goes on sending before the
    /// dump and after the restore: the server reads every byte, then end
    /// of file when the client ends.
    func testProgramThatEndedItsSideKeepsReceiving() throws {
        let trigger = scratch.newPath("go")
        let server = try startServer("tcp-fin-wait2", trigger: trigger, """
            conn = accept()
            conn.sendall(b"hello\\n")
            conn.shutdown(socket.SHUT_WR)
            print("finished sending", flush=True)
            wait_for_trigger()
            print("read", read_to_end(conn).decode(), flush=True)
            print("state", state(conn), flush=True)
            """)
        let client = try connect(to: server)
        _ = try server.waitFor(line: "finished sending")
        XCTAssertEqual(try client.receive(timeout: 10), "hello\n")
        XCTAssertEqual(try client.receive(timeout: 10), "")
        try client.send("one ")
        usleep(100_000)

        let image = try checkpoint(server, options: ["--tcp-established"])
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("half closed (FIN_WAIT2)"))
        try restore(image, as: server)
        try client.send("two")
        try client.finishSending()
        try touch(trigger)
        let read = try server.waitFor(line: "read one two")
        // Both sides ended, the server's first: TIME_WAIT, which a socket
        // still held reports as CLOSE.
        _ = try server.waitFor(line: "state 7", from: read)
        assertNoFailures(server)
    }

    /// Both sides ended, and the client's acknowledgements of the server's
    /// answer and FIN are dropped, so the server's socket waits in LAST_ACK
    /// with both unacknowledged. After the restore it sends them again,
    /// the client acknowledges, and the socket closes.
    func testUnacknowledgedFINIsSentAgainAfterTheRestore() throws {
        let trigger = scratch.newPath("go")
        let server = try startServer("tcp-last-ack", trigger: trigger, """
            conn = accept()
            data = read_to_end(conn)
            conn.sendall(b"answer to " + data)
            conn.shutdown(socket.SHUT_WR)
            print("answered", flush=True)
            wait_for_trigger()
            while True:
                print("state", state(conn), flush=True)
                time.sleep(0.1)
            """)
        let port = try server.waitFor("port", atLeast: 1)
        let client = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: UInt16(port)))
        let clientPort = try Sockets.localAddress(client.fd).port
        let table = "halfclosed-\(getpid())"
        try runNft("table inet \(table) {\n chain output {\n type filter hook output priority -150; policy accept;\n tcp sport \(clientPort) tcp flags & (fin | syn | rst) == 0 drop\n }\n}\n")
        defer { _ = try? runNft("delete table inet \(table)\n") }
        try client.send("request\n")
        try client.finishSending()
        _ = try server.waitFor(line: "answered")
        XCTAssertEqual(try client.receive(timeout: 10), "answer to request\n")
        usleep(100_000)

        let image = try checkpoint(server, options: ["--tcp-established"])
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("half closed (LAST_ACK)"))
        try runNft("delete table inet \(table)\n")
        try restore(image, as: server)
        try touch(trigger)
        let mark = try server.waitFor("a state") { $0.hasPrefix("state ") }.index
        XCTAssertEqual(server.log.lines()[mark], "state 9", "LAST_ACK after the restore")
        _ = try server.waitFor(line: "state 7", from: mark, timeout: 20)
        assertNoFailures(server)
    }

    /// Both ends in one process: one ended its side (FIN_WAIT2), the other
    /// took the FIN (CLOSE_WAIT) with bytes still unread. After the
    /// restore the second reads the bytes and end of file, then answers,
    /// and the first reads the answer: both come back together.
    func testBothEndsOfAHalfClosedConnectionInOneProcess() throws {
        let trigger = scratch.newPath("go")
        let program = try startServer("tcp-half-pair", trigger: trigger, """
            left, right = pair()
            left.sendall(b"last words\\n")
            left.shutdown(socket.SHUT_WR)
            time.sleep(0.1)
            print("states", state(left), state(right), flush=True)
            print("ready", flush=True)
            wait_for_trigger()
            print("right read", read_to_end(right).decode().strip(), flush=True)
            right.sendall(b"answer\\n")
            right.close()
            print("left read", read_to_end(left).decode().strip(), flush=True)
            """)
        _ = try program.waitFor(line: "states 5 8")
        let image = try checkpoint(program, options: ["--tcp-established"])
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("half closed (FIN_WAIT2)") && shown.contains("half closed (CLOSE_WAIT)"), shown)
        try restore(image, as: program)
        try touch(trigger)
        _ = try program.waitFor(line: "right read last words")
        _ = try program.waitFor(line: "left read answer")
        assertNoFailures(program)
    }

    /// Both ends closed at once, in one process: each sent its FIN before
    /// the other's arrived. With the packets between them held, only the
    /// left one's FIN is let through to the right: the right stands in
    /// CLOSING (its own FIN sent, the peer's taken, its FIN not
    /// acknowledged), the left in FIN_WAIT1. After the restore each gets
    /// its FINs back in that order and stands where it stood; once the
    /// packets flow both close, each having read the other's bytes and end
    /// of file.
    func testEndsClosingAtOnceComeBackClosing() throws {
        let trigger = scratch.newPath("go")
        let program = try startServer("tcp-closing", trigger: trigger, """
            left, right = pair()
            print("ports", left.getsockname()[1], right.getsockname()[1], flush=True)
            print("ready", flush=True)
            while not os.path.exists(sys.argv[1] + ".close"):
                time.sleep(0.02)
            left.sendall(b"from left\\n")
            right.sendall(b"from right\\n")
            left.shutdown(socket.SHUT_WR)
            right.shutdown(socket.SHUT_WR)
            print("shut", flush=True)
            while state(right) != 11:
                time.sleep(0.02)
            print("states", state(left), state(right), flush=True)
            wait_for_trigger()
            print("left read", read_to_end(left).decode().strip(), flush=True)
            print("right read", read_to_end(right).decode().strip(), flush=True)
            while state(left) != 7 or state(right) != 7:
                time.sleep(0.05)
            print("both closed", flush=True)
            """)
        let ports = try program.waitFor("ports") { $0.hasPrefix("ports ") }.line.split(separator: " ").dropFirst().map(String.init)
        let table = "closing-\(getpid())"
        func hold(_ rules: [String]) throws {
            try runNft("table inet \(table) {\n chain output {\n type filter hook output priority -150; policy accept;\n }\n}\n"
                       + "flush chain inet \(table) output\n" + rules.map { "add rule inet \(table) output \($0)\n" }.joined())
        }
        let toRight = "tcp sport \(ports[0]) tcp dport \(ports[1])", toLeft = "tcp sport \(ports[1]) tcp dport \(ports[0])"
        try hold(["\(toRight) drop", "\(toLeft) drop"])
        defer { _ = try? runNft("delete table inet \(table)\n") }
        try touch(trigger + ".close")
        _ = try program.waitFor(line: "shut")
        // Only the left one's FIN (sent again on its timer) gets through.
        try hold(["\(toRight) tcp flags & fin == 0 drop", "\(toLeft) drop"])
        _ = try program.waitFor(line: "states 4 11")
        let image = try checkpoint(program, options: ["--tcp-established"])
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("half closed (CLOSING)") && shown.contains("half closed (FIN_WAIT1)"), shown)
        try restore(image, as: program)
        try runNft("delete table inet \(table)\n")
        try touch(trigger)
        _ = try program.waitFor(line: "left read from right")
        _ = try program.waitFor(line: "right read from left")
        _ = try program.waitFor(line: "both closed", timeout: 20)
        assertNoFailures(program)
    }

    /// A server on `host` running `body` (Python) with these at hand:
    /// accept() the one connection (printing its port, and "ready"),
    /// wait_for_trigger() until `trigger` exists, read_to_end(conn),
    /// state(conn) (TCP_INFO's state), pair() (two ends of a loopback
    /// connection of its own). It then sleeps until killed.
    private func startServer(_ name: String, host: String = "127.0.0.1", trigger: String, _ body: String) throws -> Fixture {
        try startPython(name, """
            import os, socket, sys, time
            \(pythonListener)
            def accept():
                return listening(sys.argv[2]).accept()[0]
            def wait_for_trigger():
                while not os.path.exists(sys.argv[1]):
                    time.sleep(0.02)
            def read_to_end(conn):
                data = b""
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return data
                    data += chunk
            def state(conn):
                return conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            def pair():
                listener = socket.socket()
                listener.bind(("127.0.0.1", 0))
                listener.listen()
                left = socket.create_connection(listener.getsockname())
                return left, listener.accept()[0]
            \(body)
            while True:
                time.sleep(1)
            """, [trigger, host])
    }

    private func connect(to server: Fixture, host: String = "127.0.0.1") throws -> SocketClient {
        let port = try server.waitFor("port", atLeast: 1)
        return try SocketClient(connectingTo: .inet(host: host, port: UInt16(port)))
    }

    private func touch(_ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data()) else { throw HarnessError("cannot make \(path)") }
    }
}
