import Glibc
import Ptrace
import XCTest

/// Debian's redis-server run as a service with a network of its own
/// (systemd's PrivateNetwork=, here unshare -n): the server listens on
/// the namespace's loopback, and a client in the same namespace holds one
/// TCP connection to it, INCRing a counter every 50 ms and checking each
/// answer. The whole tree is checkpointed with --tcp-established, killed
/// and restored: the counter goes on by one over the same connection, the
/// server takes new connections in the restored namespace, and none of it
/// shows in crtool's.
final class PrivateNetworkScenarioTests: EndToEndCase {
    static let server = "/usr/bin/redis-server"
    static let cli = "/usr/bin/redis-cli"
    static let port = 6391

    private static let client = """
        import socket, sys, time
        c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        buffered = b""
        n = 0
        print("ready", flush=True)
        while True:
            n += 1
            c.sendall(b"INCR counter\\r\\n")
            while b"\\r\\n" not in buffered:
                chunk = c.recv(64)
                if not chunk:
                    print("FAIL the connection ended", flush=True)
                    sys.exit(1)
                buffered += chunk
            line, _, buffered = buffered.partition(b"\\r\\n")
            if line != b":%d" % n:
                print(f"FAIL expected {n}, the server said {line!r}", flush=True)
                sys.exit(1)
            print(f"incr {n}", flush=True)
            time.sleep(0.05)
        """

    func testRedisWithANetworkOfItsOwnCarriesOnWithItsClient() throws {
        try requirePrograms(Self.server, Self.cli, from: "Debian's redis-server")
        let python = try BuildProducts.requirePython3()
        let dir = try scratch.newDirectory("redis")
        let script = """
            ip link set lo up
            \(Self.server) --port \(Self.port) --bind 127.0.0.1 --dir \(dir) --save '' --appendonly no --daemonize no > \(dir)/server.log 2>&1 &
            until \(Self.cli) -p \(Self.port) ping > /dev/null 2>&1; do sleep 0.05; done
            exec \(python) -c "$0" \(Self.port)
            """
        let tree = try startProgram("private-redis", "/usr/bin/unshare", ["--net", "/bin/sh", "-c", script, Self.client])
        defer { try? stopTree(tree.pid) }
        try tree.waitFor("incr", atLeast: 3)
        let own = try NamespaceKind.net.ownID()
        XCTAssertNotEqual(try NamespaceKind.net.id(pid: tree.pid), own)

        let (image, pids) = try checkpointTree(tree, options: ["--tcp-established"])
        XCTAssertEqual(pids.count, 2, "the client and the server: \(pids)")
        let mark = tree.lineCount
        try restore(image, as: tree)
        try tree.waitForMore("incr", 10, after: mark)
        assertSequence(tree, "incr")
        XCTAssertEqual(tree.log.lines().filter { $0.contains("FAIL") }, [])

        let namespace = "--net=/proc/\(tree.pid)/ns/net"
        let fresh = try runCommand("/usr/bin/nsenter", [namespace, Self.cli, "-p", "\(Self.port)", "get", "counter"],
                                   outputPrefix: scratch.newPath("redis-cli"), timeout: 10)
        let counted = try XCTUnwrap(Int(fresh.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(fresh)")
        XCTAssertGreaterThanOrEqual(counted, tree.numbers("incr").last ?? .max, "a new connection sees the counter")
        XCTAssertNotEqual(try NamespaceKind.net.id(pid: tree.pid), own)
        XCTAssertFalse(try InetSocketTable.read(pid: getpid(), table: "tcp").contains { $0.localPort == UInt16(Self.port) },
                       "the server's sockets were made in crtool's namespace")
    }
}
