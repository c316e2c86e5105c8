import Glibc
import Ptrace
import XCTest

/// Connections crtool cannot carry are refused at dump with the pid, the
/// fd and the peer named; no image is left and the process serves on.
final class SocketRefusalTests: EndToEndCase {
    /// Unless the dump is asked to carry them (TCPConnectionTests).
    func testEstablishedTCPConnectionIsRefusedWithoutTheFlag() throws {
        let fixture = try startFixture("inetecho")
        let ports = try EchoPorts(fixture)
        let client = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: ports.tcp))
        XCTAssertEqual(try client.ask("hold\n"), "echo hold\n")

        try assertDumpRefused(fixture, mentioning: ["dump with --tcp-established", "connected from 127.0.0.1:\(ports.tcp)"])
        XCTAssertEqual(try client.ask("still here\n"), "echo still here\n")
        assertNoFailures(fixture)
    }

    func testUnixConnectionToAProcessOutsideTheImageIsRefused() throws {
        let dir = try scratch.newDirectory("sockets")
        let fixture = try startFixture("unixlisten", [dir])
        let client = try SocketClient(connectingTo: .unixPath(dir + "/stream.sock"))
        XCTAssertEqual(try client.ask("hold\n"), "echo hold\n")

        try assertDumpRefused(fixture, mentioning: ["outside the image", "pid \(getpid())", "fd \(client.fd)"])
        XCTAssertEqual(try client.ask("still here\n"), "echo still here\n")
        assertNoFailures(fixture)
    }

    /// A unix socket that exists only in another socket's queue.
    func testUnixSocketInFlightIsRefused() throws {
        let dir = try scratch.newDirectory("files")
        let fixture = try startFixture("fdpassing", [dir, "--socket"])
        try fixture.waitFor("tick", atLeast: 3)

        try assertDumpRefused(fixture, mentioning: ["in flight", "SCM_RIGHTS", "no process of the image holds", "unix socket"])
        let last = try XCTUnwrap(fixture.numbers("tick").last)
        try fixture.waitFor("tick", atLeast: last + 5)
        assertNoFailures(fixture)
    }

    /// The fixture reads its stdin, a unix socket this test process holds
    /// too: restoring it would cut this process off.
    func testSocketAlsoHeldOutsideTheImageIsRefused() throws {
        let (inside, writer) = try Sockets.pair(type: Int32(SOCK_STREAM.rawValue))
        addTeardownBlock { close(inside); close(writer) }
        let reader = try startFixture("reader", stdin: .descriptor(inside))
        _ = Sockets.send(writer, Array("before the dump\n".utf8), flags: 0)
        try reader.waitFor(line: "got before the dump")

        try assertDumpRefused(reader, mentioning: ["pid \(reader.pid) fd 0", "also held by pid \(getpid())", "fd \(inside)", "outside the image"])
        _ = Sockets.send(writer, Array("after the dump\n".utf8), flags: 0)
        try reader.waitFor(line: "got after the dump")
        assertNoFailures(reader)
    }

    /// A kind crtool does not carry is named by its protocol.
    func testVsockSocketIsRefusedByName() throws {
        let holder = try startPython("vsock", """
            import socket, time
            s = socket.socket(40, socket.SOCK_STREAM, 0)                 # AF_VSOCK
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        try assertDumpRefused(holder, mentioning: ["is a AF_VSOCK socket", "cannot checkpoint this kind of file yet"])
    }
}
