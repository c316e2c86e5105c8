import Foundation
import Glibc
import Ptrace
import XCTest

/// `crtool restore --tcp-close`: the image's connections come back reset,
/// for peers that are gone. The server reads ECONNRESET on the connection
/// it had and goes on to take new ones; its old client, still there, is
/// reset too rather than left waiting.
final class TCPCloseTests: EndToEndCase {
    func testConnectionsComeBackResetAndTheServerGoesOn() throws {
        let server = try startPython("tcp-close", """
            import socket
            \(pythonLines)
            \(pythonListener)
            listener = listening()
            while True:
                conn = listener.accept()[0]
                try:
                    for line in lines(conn):
                        conn.sendall(b"echo " + line + b"\\n")
                    print("ended", flush=True)
                except ConnectionResetError:
                    print("reset", flush=True)
                conn.close()
            """)
        let port = UInt16(try server.waitFor("port", atLeast: 1))
        let old = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        XCTAssertEqual(try old.ask("one\n"), "echo one\n")

        let image = try checkpoint(server, options: ["--tcp-established"])
        try waitUntilFree(server.pid)
        let result = try crtool(["restore", "-D", image, "-d", "--tcp-close"])
        XCTAssertTrue(result.succeeded, "\(result)")
        _ = try server.waitFor(line: "reset")
        XCTAssertEqual(heldPacketTables(), [], "the lock is gone")

        // The old client is answered with a reset, not silence.
        try? old.send("two\n")
        XCTAssertThrowsError(try old.receive(timeout: 10)) { error in
            XCTAssertTrue("\(error)".contains("ECONNRESET") || "\(error)".contains("reset"), "\(error)")
        }
        let fresh = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        XCTAssertEqual(try fresh.ask("three\n"), "echo three\n")
        assertNoFailures(server)
    }
}
