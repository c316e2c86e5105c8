import Glibc
import XCTest

/// A process logging through a datagram socket connected to a server
/// outside the image (syslog(3) connects one to /dev/log) is dumped alone
/// and connected to the server's name again on restore: the server gets
/// every message once, in order, before and after.
final class ExternalDatagramPeerTests: EndToEndCase {
    func testLoggerReconnectsToItsServerByName() throws {
        let path = try scratch.newDirectory("log") + "/log.sock"
        let server = try startPython("log-server", """
            import os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(sys.argv[1])
            print("ready", flush=True)
            while True:
                print(s.recv(1000).decode(), flush=True)
            """, [path])
        let logger = try startPython("logger", """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.connect(sys.argv[1])
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                s.send(b"message %d" % n)
                print("sent", n, flush=True)
                time.sleep(0.05)
            """, [path])
        try server.waitFor("message", atLeast: 3)

        let (image, mark) = try roundTrip(logger)
        XCTAssertTrue(readTextFile(image + "/process-\(logger.pid).json")?.contains("\"externalPeer\"") ?? false, "the image names the server")
        try logger.waitForMore("sent", 10, after: mark)
        let last = try XCTUnwrap(logger.numbers("sent").last)
        try server.waitFor("message", atLeast: last)
        assertSequence(server, "message", startingAt: 1)
        assertNoFailures(logger)
        XCTAssertEqual(logger.stderrTail().trimmingCharacters(in: .whitespacesAndNewlines), "", "the logger reported errors")
    }
}
