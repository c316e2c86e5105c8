import Foundation
import Glibc
import Ptrace
import XCTest

/// A connection still being made (SYN_SENT) when the dump comes: a client
/// in the middle of connect to a server that does not answer yet (its
/// SYNs dropped). After the restore the same connect goes on, and once the
/// server answers the client is connected and sends what it meant to.
final class TCPConnectingTests: EndToEndCase {
    /// Python's connect with a timeout: a non-blocking connect and a poll.
    func testConnectInProgressCompletesAfterTheRestore() throws {
        try expectConnectCompletes(timeout: "60")
    }

    /// A plain blocking connect: the thread was inside connect(2), which
    /// starts again after the restore and waits for the handshake the
    /// restore began.
    func testBlockingConnectCompletesAfterTheRestore() throws {
        try expectConnectCompletes(timeout: "none")
    }

    private func expectConnectCompletes(timeout: String) throws {
        let listener = try Sockets.create(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        defer { close(listener) }
        try Sockets.bind(listener, .inet4(address: [127, 0, 0, 1], port: 0))
        try Sockets.listen(listener, backlog: 4)
        let port = try Sockets.localAddress(listener).port
        let table = "connecting-\(getpid())"
        try runNft("table inet \(table) {\n chain input {\n type filter hook input priority -150; policy accept;\n tcp dport \(port) tcp flags & (syn | ack) == syn drop\n }\n}\n")
        defer { _ = try? runNft("delete table inet \(table)\n") }

        let client = try startPython("tcp-connecting", """
            import socket, sys, time
            print("ready", flush=True)
            s = socket.socket()
            s.settimeout(None if sys.argv[2] == "none" else float(sys.argv[2]))
            s.connect(("127.0.0.1", int(sys.argv[1])))
            print("connected", flush=True)
            s.sendall(b"hello from the client\\n")
            while True:
                time.sleep(1)
            """, ["\(port)", timeout])
        usleep(300_000)
        let image = try checkpoint(client, options: ["--tcp-established"])
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("connecting to 127.0.0.1:\(port)"))
        try restore(image, as: client)
        try runNft("delete table inet \(table)\n")

        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&p, 1, 20_000), 1, "the restored client's SYN reached the listener")
        let accepted = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(accepted, 0)
        defer { close(accepted) }
        _ = try client.waitFor(line: "connected", timeout: 20)
        var buffer = [UInt8](repeating: 0, count: 100)
        var q = pollfd(fd: accepted, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&q, 1, 10_000), 1)
        let n = recv(accepted, &buffer, buffer.count, 0)
        XCTAssertEqual(String(decoding: buffer[0..<max(0, n)], as: UTF8.self), "hello from the client\n")
        XCTAssertEqual(heldPacketTables(), [])
        assertNoFailures(client)
    }
}
