import Foundation
import Glibc
import XCTest

/// Sockets come back owned by who made them, though crtool makes them
/// all as root: the kernel keeps a socket's owner for firewall owner
/// matches and /proc/net, so a service running as another user must not
/// find its sockets turned into root's.
final class SocketOwnerTests: EndToEndCase {
    func testSocketsKeepTheirOwners() throws {
        let program = try startPython("socket-owners", """
            import os, socket, time
            kept = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            os.setgid(65534)
            os.setuid(65534)
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client = socket.create_connection(listener.getsockname())
            server = listener.accept()[0]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            left, right = socket.socketpair()
            named = socket.socket(socket.AF_UNIX)
            named.bind("\\0crtool-owner-%d" % os.getpid())
            named.listen()
            sockets = {"kept": kept, "listener": listener, "client": client, "server": server, "udp": udp,
                       "left": left, "right": right, "named": named}
            for name, s in sockets.items():
                print("fd", name, s.fileno(), flush=True)
            print("udp port", udp.getsockname()[1], flush=True)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        _ = try program.waitFor(line: "ready")
        let fds = Dictionary(uniqueKeysWithValues: program.log.lines().compactMap { line -> (String, Int)? in
            let w = line.split(separator: " ")
            return w.count == 3 && w[0] == "fd" ? (String(w[1]), Int(w[2])!) : nil
        })
        XCTAssertEqual(fds.count, 8)
        func owners() throws -> [String: String] {
            try fds.mapValues { fd in
                var st = stat()
                guard stat("/proc/\(program.pid)/fd/\(fd)", &st) == 0 else { throw HarnessError("stat fd \(fd)") }
                return "\(st.st_uid):\(st.st_gid)"
            }
        }
        let before = try owners()
        XCTAssertEqual(before["kept"], "0:0")
        XCTAssertEqual(before["udp"], "65534:65534")

        try roundTrip(program, options: ["--tcp-established"])
        XCTAssertEqual(try owners(), before)
        // The owner the kernel matches on, as /proc/net/udp shows it.
        let port = String(format: "%04X", try program.waitFor("udp port", atLeast: 1))
        let row = try String(contentsOfFile: "/proc/\(program.pid)/net/udp", encoding: .utf8)
            .split(separator: "\n").first { $0.split(separator: " ").dropFirst().first?.hasSuffix(":" + port) == true }
        XCTAssertEqual(row?.split(separator: " ")[7], "65534", String(row ?? "no row for the UDP socket"))
        assertNoFailures(program)
    }
}
