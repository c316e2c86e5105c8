import Glibc
import Ptrace
import XCTest

/// A client of a unix server learns who the server is from its socket
/// (SO_PEERCRED: the process that made the listener listen, and its user
/// and group then), as programs that check who they talk to do. A
/// restored listener gives the same answer as before the dump, not
/// crtool's pid and root.
final class ListenerCredentialsTests: EndToEndCase {
    func testClientsSeeTheServerAsBeforeTheDump() throws {
        let name = "crtool-test-listener-\(getpid())"
        let server = try startPython("server", """
            import os, socket, sys
            # Started as root, it runs as nobody before it listens.
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            listener.bind("\\0" + sys.argv[1])
            listener.listen(8)
            print("ready", flush=True)
            while True:
                conn, _ = listener.accept()
                conn.sendall(b"hello\\n")
                conn.close()
            """, [name])
        defer { try? killAndReap(server.pid) }
        XCTAssertEqual(try serverCredentials(name), PeerCredentials(pid: server.pid, uid: 65534, gid: 65534), "before the dump")

        _ = try roundTrip(server)
        XCTAssertEqual(try serverCredentials(name), PeerCredentials(pid: server.pid, uid: 65534, gid: 65534), "after the restore")
        let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Uid:\t65534\t65534\t65534\t65534"), "the server still runs as nobody")
    }

    /// Connects to the server, reads its greeting and returns SO_PEERCRED
    /// of the connection.
    private func serverCredentials(_ name: String) throws -> PeerCredentials {
        let client = try SocketClient(connectingTo: .unixAbstract(Array(name.utf8)))
        XCTAssertEqual(try client.receive(timeout: 10), "hello\n")
        let bytes = try Sockets.bytesOption(client.fd, level: SOL_SOCKET, name: SO_PEERCRED, size: 12)
        func field(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[i * 4 + $1]) << (8 * $1) } }
        return PeerCredentials(pid: Int32(bitPattern: field(0)), uid: field(1), gid: field(2))
    }
}

/// SO_PEERCRED as the tests compare it.
struct PeerCredentials: Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}
