import Foundation
import Glibc
import XCTest

/// A listener's new connections under the network lock (`--tcp-established`
/// with nftables): connections waiting in its accept queue when the tree
/// is frozen are left to the program to accept, the dump trying again, and
/// a client that connects between the dump and the restore waits and is
/// accepted by the restored server, rather than being refused.
final class TCPListenerHoldTests: EndToEndCase {
    func testWaitingConnectionsAreAcceptedAndNewOnesWaitForTheRestore() throws {
        let server = try startSlowServer()
        let port = UInt16(try server.waitFor("port", atLeast: 1))
        var clients: [SocketClient] = []
        for i in 0..<4 {
            let client = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
            try client.send("hi \(i)\n")
            clients.append(client)
        }
        // The server takes one every 300 ms: three still wait.
        let image = scratch.newPath("image")
        let dump = try crtool(["dump", "-t", "\(server.pid)", "-D", image, "--tcp-established"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertTrue(dump.stdout.contains("a listener had connections waiting to be accepted"), "\(dump)")
        XCTAssertNotNil(try waitForExit(server.pid, timeout: 10), "the dump killed the server")
        try waitUntilFree(server.pid)
        XCTAssertEqual(server.log.lines().filter { $0.hasPrefix("accepted") }.count, 4, "every waiting connection was accepted before the dump\n\(server.log.tail())")
        XCTAssertTrue(try crtool(["show", image]).stdout.contains("listening, new connections held by nftables table"))

        // Connects while the server is only an image: its SYNs go unanswered
        // until the restored listener is there.
        let lateClient = BackgroundWork("late client") { try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port)) }
        usleep(300_000)
        try restore(image, as: server)
        let last = try XCTUnwrap(lateClient.wait(timeout: 20), "the late client's connection was taken after the restore").get()
        try last.send("hi 4\n")
        clients.append(last)
        for (i, client) in clients.enumerated() {
            XCTAssertEqual(try client.receive(timeout: 20), "echo hi \(i)\n")
        }
        XCTAssertEqual(heldPacketTables(), [], "the restore let the packets go")
        assertNoFailures(server)
    }

    /// Without the lock nothing holds new connections back, so waiting
    /// ones are refused as before, and the server runs on with them.
    func testWaitingConnectionsRefuseTheDumpWithoutTheLock() throws {
        let server = try startSlowServer()
        let port = UInt16(try server.waitFor("port", atLeast: 1))
        var clients: [SocketClient] = []
        for i in 0..<3 {
            let client = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
            try client.send("hi \(i)\n")
            clients.append(client)
        }
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(server.pid)", "-D", dir, "--tcp-established", "--network-lock", "skip"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("waiting to be accepted"), "\(result)")
        for (i, client) in clients.enumerated() {
            XCTAssertEqual(try client.receive(timeout: 20), "echo hi \(i)\n")
        }
        assertRunningFree(server)
    }

    /// A server that never accepts, and exits while the dump waits for it
    /// to: the dump fails, and the table that held its listener goes.
    func testServerExitingWhileTheDumpWaitsLeavesNothingHeld() throws {
        // os._exit: Python's own exit closes the listener first, and a dump
        // catching the process between the two rightly has nothing to wait for.
        let server = try startPython("tcp-never-accepts", """
            import os, socket, time
            \(pythonListener)
            listener = listening(backlog=16)
            time.sleep(0.6)
            os._exit(0)
            """)
        let port = UInt16(try server.waitFor("port", atLeast: 1))
        let waiting = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        defer { _ = waiting }
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(server.pid)", "-D", dir, "--tcp-established"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertEqual(heldPacketTables(), [], "no table is left once the dump gave up")
        XCTAssertFalse(fileExists(dir + "/manifest.json"))
    }

    /// Accepts a connection every 300 ms and answers each line on it.
    private func startSlowServer() throws -> Fixture {
        try startPython("tcp-slow-accept", """
            import socket, threading, time
            \(pythonListener)
            listener = listening(backlog=16)
            \(pythonLines)
            def serve(conn):
                for line in lines(conn):
                    conn.sendall(b"echo " + line + b"\\n")
            n = 0
            while True:
                time.sleep(0.3)
                conn = listener.accept()[0]
                n += 1
                print("accepted", n, flush=True)
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
            """)
    }
}
