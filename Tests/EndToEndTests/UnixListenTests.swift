import Glibc
import Ptrace
import XCTest

/// Listening unix sockets come back on their names: a path (whose stale
/// socket file the dumped process left behind is replaced, with its mode
/// kept) and an abstract name; a bound datagram socket too.
final class UnixListenTests: EndToEndCase {
    func testListenersAcceptOnTheirNamesAfterRestore() throws {
        let dir = try scratch.newDirectory("sockets")
        let fixture = try startFixture("unixlisten", [dir])
        let abstract = try abstractName(fixture)
        let streamPath = dir + "/stream.sock"
        XCTAssertEqual(try SocketClient(connectingTo: .unixPath(streamPath)).ask("before\n"), "echo before\n")

        let (_, mark) = try roundTrip(fixture)
        XCTAssertEqual(try SocketClient(connectingTo: .unixPath(streamPath)).ask("by path\n"), "echo by path\n")
        XCTAssertEqual(try SocketClient(connectingTo: .unixAbstract(Array(abstract.utf8))).ask("by name\n"), "echo by name\n")
        let datagram = try SocketClient(connectingTo: .unixPath(dir + "/dgram.sock"), type: Int32(SOCK_DGRAM.rawValue))
        try datagram.send("a datagram")
        try fixture.waitFor(line: "datagram a datagram", from: mark)
        try fixture.waitFor(line: "served by name", from: mark)

        var st = stat()
        XCTAssertEqual(stat(streamPath, &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o660, "the socket file's mode")
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFSOCK)
        assertNoFailures(fixture)
    }

    /// A live socket bound to the path meanwhile is someone else's: the
    /// restore must not take its name, and says why.
    func testRestoreRefusesAPathALiveSocketHolds() throws {
        let dir = try scratch.newDirectory("sockets")
        let fixture = try startFixture("unixlisten", [dir])
        let image = try checkpoint(fixture)
        let path = dir + "/stream.sock"
        XCTAssertEqual(unlink(path), 0)
        let squatter = try Sockets.create(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue))
        defer { close(squatter) }
        try Sockets.bind(squatter, .unixPath(path))
        try Sockets.listen(squatter, backlog: 4)

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains(path) && result.stderr.contains("live socket"), "\(result)")
        XCTAssertFalse(ProcessTable.isAlive(fixture.pid), "a failed restore left pid \(fixture.pid) running")
    }

    private func abstractName(_ fixture: Fixture) throws -> String {
        let line = try XCTUnwrap(fixture.log.lines().first { $0.hasPrefix("abstract ") })
        return String(line.dropFirst("abstract ".count))
    }

    /// A stream socket bound but neither listening nor connected yet (a
    /// server between bind and listen) has no queue to peek at: it comes
    /// back bound to its name, and can listen and accept afterwards.
    func testBoundStreamSocketNotYetListeningComesBackBound() throws {
        let path = scratch.newPath("later.sock")
        let program = try startPython("bound-only", """
            import os, signal, socket, sys, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sys.argv[1])
            go = []
            signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
            print("ready", flush=True)
            n = 0
            while not go:
                n += 1
                print("tick", n, s.getsockname(), flush=True)
                time.sleep(0.05)
            s.listen(1)
            c, _ = s.accept()
            c.sendall(b"accepted after the restore")
            c.close()
            print("accepted", flush=True)
            while True:
                time.sleep(1)
            """, [path])
        try program.waitFor("tick", atLeast: 2)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 2, after: mark)
        let last = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") })
        XCTAssertTrue(last.hasSuffix(" \(path.replacingOccurrences(of: "//", with: "/"))") || last.hasSuffix(" \(path)"), "bound after the restore: \(last)")
        try program.signal(SIGUSR1)
        var connected: TestSocket?
        XCTAssertTrue(poll(timeout: 5) { connected = try? TestSocket.unix(path); return connected != nil }, "connect to \(path)")
        if let connected {
            XCTAssertEqual(String(decoding: try connected.receive(untilEOF: true, timeout: 5), as: UTF8.self), "accepted after the restore")
            connected.close()
        }
        try program.waitFor(line: "accepted", from: mark)
        assertNoFailures(program)
    }
}
