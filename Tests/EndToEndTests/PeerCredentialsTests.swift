import Glibc
import Ptrace
import XCTest

/// A unix socket tells who is at the other end (SO_PEERCRED: the process
/// and its user and group when the connection was made), as programs that
/// check whom they talk to ask. Restored sockets give the same answers as
/// before the dump, not crtool's pid and root: a server that trusts root
/// peers must not trust a restored connection from an unprivileged one.
final class PeerCredentialsTests: EndToEndCase {
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

    /// Connected sockets report the peer the kernel recorded when the
    /// connection was made: a socketpair its maker (root, in the parent),
    /// a connection the listener (nobody, in the child) to the connecting
    /// end and the connector (root, in the parent) to the accepted end.
    /// Each descriptor of both processes reports the same after the
    /// restore as before the dump.
    func testConnectedSocketsReportTheirPeersAsBeforeTheDump() throws {
        let name = "crtool-test-pairs-\(getpid())"
        let parent = try startPython("pairs", """
            import os, socket, sys, time
            a, b = socket.socketpair()
            child = os.fork()
            if child == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind("\\0" + sys.argv[1])
                listener.listen(1)
                accepted, _ = listener.accept()
                while True:
                    time.sleep(1)
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            while connection.connect_ex("\\0" + sys.argv[1]) != 0:
                time.sleep(0.01)
            print("child", child, flush=True)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """, [name])
        let child = pid_t(try parent.waitFor("child", atLeast: 1))
        defer { try? stopTree(parent.pid, others: [child]) }
        XCTAssertTrue(poll(timeout: 10) { ((try? self.socketPeers(of: child)) ?? [:]).count == 3 }, "the child accepted")
        let before = [parent.pid: try socketPeers(of: parent.pid), child: try socketPeers(of: child)]
        let seen = Set(before.values.flatMap(\.values))
        XCTAssertEqual(seen, [PeerCredentials(pid: parent.pid, uid: 0, gid: 0), PeerCredentials(pid: child, uid: 65534, gid: 65534)],
                       "the pair's maker, the listener and the connector, as the kernel recorded them")

        let image = try scratch.newDirectory("image")
        XCTAssertTrue(try crtool(["dump", "-t", "\(parent.pid)", "-D", image]).succeeded)
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("peer pid \(child) as uid 65534 gid 65534") && shown.contains("peer pid \(parent.pid) as uid 0 gid 0"), shown)
        try reapAll([parent.pid, child])
        let restored = try crtool(["restore", "-D", image, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertEqual([parent.pid: try socketPeers(of: parent.pid), child: try socketPeers(of: child)], before, "every descriptor's peer")
    }

    /// SO_PEERCRED of each connected socket descriptor of `pid`, by number.
    private func socketPeers(of pid: pid_t) throws -> [Int32: PeerCredentials] {
        var peers: [Int32: PeerCredentials] = [:]
        for fd in try ProcessTable.socketDescriptors(pid) {
            let copy = try PidFD(pid: pid).duplicate(fd)
            defer { close(copy) }
            guard (try? Sockets.intOption(copy, level: SOL_SOCKET, name: SO_ACCEPTCONN)) == 0 else { continue }
            peers[fd] = try credentials(of: copy)
        }
        return peers
    }

    private func credentials(of fd: Int32) throws -> PeerCredentials {
        let c = try Sockets.peerCredentials(fd)
        return PeerCredentials(pid: c.pid, uid: c.uid, gid: c.gid)
    }

    /// Connects to the server, reads its greeting and returns SO_PEERCRED
    /// of the connection.
    private func serverCredentials(_ name: String) throws -> PeerCredentials {
        let client = try SocketClient(connectingTo: .unixAbstract(Array(name.utf8)))
        XCTAssertEqual(try client.receive(timeout: 10), "hello\n")
        return try credentials(of: client.fd)
    }
}

/// SO_PEERCRED as the tests compare it.
struct PeerCredentials: Hashable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}
