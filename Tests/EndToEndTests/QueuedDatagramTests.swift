import Glibc
import Ptrace
import XCTest

/// Datagrams waiting in a UDP socket's queue at the dump are read once
/// after the restore, in order, each from its sender and to the address
/// it was sent to: on a socket bound to every IPv4 address (which sees the
/// destination through IP_PKTINFO), on an IPv6 one, and on one that
/// connected after datagrams from others had come in. A dump that lets
/// the program run on leaves its queue as it was.
final class QueuedDatagramTests: EndToEndCase {
    private static let server = """
        import os, select, socket, sys
        hold = sys.argv[1]
        v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        v4.setsockopt(socket.IPPROTO_IP, 8, 1)                                 # IP_PKTINFO
        v4.bind(("0.0.0.0", 0))
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        v6.bind(("::1", 0))
        late = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        late.bind(("127.0.0.1", 0))
        names = {v4.fileno(): "v4", v6.fileno(): "v6", late.fileno(): "late"}
        print("ports", v4.getsockname()[1], v6.getsockname()[1], late.getsockname()[1], flush=True)
        print("ready", flush=True)
        while not os.path.exists(sys.argv[2]):
            select.select([], [], [], 0.02)
        late.connect(("127.0.0.1", int(open(sys.argv[2]).read())))
        print("connected", flush=True)
        while True:
            if os.path.exists(hold):
                select.select([], [], [], 0.05)
                continue
            for fd in select.select(list(names), [], [], 0.1)[0]:
                s = {v4.fileno(): v4, v6.fileno(): v6, late.fileno(): late}[fd]
                data, ancillary, _, source = s.recvmsg(70000, 100)
                to = "?"
                for level, kind, value in ancillary:
                    if (level, kind) == (socket.IPPROTO_IP, 8):
                        to = socket.inet_ntop(socket.AF_INET, value[8:12])
                    if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO):
                        to = socket.inet_ntop(socket.AF_INET6, value[:16])
                print("got", names[fd], data[:12].decode(), len(data), "from", source[0], source[1], "to", to, flush=True)
        """

    private func send(_ payload: [UInt8], from source: String, to destination: String, port: UInt16) throws -> UInt16 {
        let family = source.contains(":") ? AF_INET6 : AF_INET
        let fd = try Sockets.create(family: family, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(fd) }
        try Sockets.bind(fd, try .inet(host: source, port: 0))
        XCTAssertEqual(Sockets.connect(fd, try .inet(host: destination, port: port)), 0)
        XCTAssertEqual(try Sockets.send(fd, payload, flags: 0).get(), payload.count)
        return try Sockets.localAddress(fd).port
    }

    func testQueuedDatagramsAreReadOnceInOrderFromTheirSenders() throws {
        let hold = scratch.newPath("hold")
        XCTAssertTrue(FileManager.default.createFile(atPath: hold, contents: nil))
        let python = try BuildProducts.requirePython3()
        let connectTo = scratch.newPath("connect")
        let program = try startProgram("udp-queue", python, ["-c", Self.server, hold, connectTo])
        let ports = try XCTUnwrap(program.log.lines().first { $0.hasPrefix("ports ") }).split(separator: " ").dropFirst().compactMap { UInt16($0) }
        guard ports.count == 3 else { return XCTFail("the program's ports: \(ports)") }
        let (v4, v6, late) = (ports[0], ports[1], ports[2])

        var expected: [String] = []
        func queue(_ socket: String, _ text: String, from source: String, to destination: String, port: UInt16, padding: Int = 0) throws {
            let payload = Array(text.utf8) + [UInt8](repeating: 0x2e, count: padding)
            let sourcePort = try send(payload, from: source, to: destination, port: port)
            // The late socket does not ask where its datagrams were sent.
            let shown = socket == "late" ? "?" : destination
            expected.append("got \(socket) \(String(decoding: payload.prefix(12), as: UTF8.self)) \(payload.count) from \(source) \(sourcePort) to \(shown)")
        }
        // From another sender before the socket connects: still read once.
        try queue("late", "early-other", from: "127.0.0.9", to: "127.0.0.1", port: late)
        let peer = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(peer) }
        try Sockets.bind(peer, .inet4(address: [127, 0, 0, 1], port: 0))
        try writeWholeFile(connectTo, Array("\(try Sockets.localAddress(peer).port)".utf8))
        try program.waitFor(line: "connected")
        try queue("v4", "first", from: "127.0.0.2", to: "127.0.0.1", port: v4)
        try queue("v4", "second", from: "127.0.0.3", to: "127.0.0.5", port: v4, padding: 40000)
        try queue("v6", "sixth", from: "::1", to: "::1", port: v6)
        try queue("v4", "third", from: "127.0.0.1", to: "127.0.0.7", port: v4)
        XCTAssertEqual(Sockets.connect(peer, .inet4(address: [127, 0, 0, 1], port: late)), 0)
        XCTAssertEqual(try Sockets.send(peer, Array("from-peer".utf8), flags: 0).get(), 9)
        expected.append("got late from-peer 9 from 127.0.0.1 \(try Sockets.localAddress(peer).port) to ?")

        // A dump that lets the program run on takes nothing.
        _ = try checkpoint(program, options: ["--leave-running"])
        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("3 datagrams queued (40016 bytes)"), "show counts the IPv4 socket's queue: \(show)")
        XCTAssertTrue(show.stdout.contains("udp ipv6 ::1:\(v6), 1 datagrams queued"), "\(show)")
        let processFile = "process-\(program.pid).json"
        let hostile = try editedCopy(of: image, file: processFile, replacing: "\"destination\" : \"127.0.0.5\"", with: "\"destination\" : \"a.b\"")
        try assertRestoreRefused(hostile, pid: program.pid, mentioning: [processFile, "inetSocket.queue[1].destination"])

        try restore(image, as: program)
        XCTAssertEqual(unlink(hold), 0)
        XCTAssertTrue(poll(timeout: 10) { program.log.lines().filter { $0.hasPrefix("got ") }.count >= expected.count },
                      "the program reads what was queued: \(program.log.tail())")
        usleep(200_000)
        let got = program.log.lines().filter { $0.hasPrefix("got ") }
        for socket in ["v4", "v6", "late"] {
            XCTAssertEqual(got.filter { $0.hasPrefix("got \(socket) ") }, expected.filter { $0.hasPrefix("got \(socket) ") },
                           "\(socket): every datagram once, in order, from its sender to where it was sent")
        }
    }
}
