import Glibc
import XCTest

/// Netlink sockets come back bound to the same port ids, in the same
/// multicast groups, connected where they were, with their options, and
/// they work: route events reach a listener and requests are answered.
/// What a new socket cannot be given (unread messages, families whose
/// kernel side registers port ids) is refused by name.
final class NetlinkTests: EndToEndCase {
    func testNetlinkSocketsComeBackBoundJoinedAndConnected() throws {
        let program = try startPython("netlink", """
            import os, socket, struct, time
            NL = 270
            rt = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            rt.setsockopt(NL, 5, 1)                                  # NETLINK_NO_ENOBUFS
            rt.setsockopt(NL, 11, 1)                                 # NETLINK_EXT_ACK
            rt.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 300000)
            rt.bind((0, 0x10))                                       # RTMGRP_IPV4_IFADDR
            rt.setsockopt(NL, 1, 33)                                 # join group 33 too
            rt.setblocking(False)
            req = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
            req.setsockopt(NL, 12, 1)                                # NETLINK_GET_STRICT_CHK
            uevent = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)
            here = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 2)   # NETLINK_USERSOCK
            here.bind((os.getpid() + 7000, 0))
            there = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 2)
            there.connect((os.getpid() + 7000, 0))
            def links(seq):
                # RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP; answers until NLMSG_DONE
                req.send(struct.pack("=IHHII", 32, 18, 0x301, seq, 0) + bytes(16))
                count = 0
                while True:
                    data = req.recv(65536)
                    offset = 0
                    while offset < len(data):
                        length, kind = struct.unpack_from("=IH", data, offset)
                        if kind == 3:
                            return count
                        count += kind == 16
                        offset += (length + 3) & ~3
            def members(s):
                words = s.getsockopt(NL, 9, 64)
                return [32 * w + b + 1 for w in range(len(words) // 4)
                        for b in range(32) if struct.unpack_from("=I", words, 4 * w)[0] >> b & 1]
            events = 0
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                try:
                    while True:
                        events += struct.unpack_from("=H", rt.recv(65536), 4)[0] in (20, 21)
                except BlockingIOError:
                    pass
                there.send(b"note %d" % n)
                heard = here.recv(100).decode()
                state = ",".join(str(v) for v in [
                    rt.getsockname(), members(rt), rt.getsockopt(NL, 5), rt.getsockopt(NL, 11),
                    rt.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), rt.getblocking(),
                    req.getsockname()[0] != 0, req.getsockopt(NL, 12), uevent.getsockname(), members(uevent),
                    here.getsockname(), there.getpeername(), there.getsockname()[0] != 0,
                ]).replace(" ", "")
                print("tick", n, "links", links(n), "events", events, "heard", heard.replace(" ", "_"), "state", state, flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        func last() throws -> [String] {
            try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }).split(separator: " ").map(String.init)
        }
        let before = try last()
        XCTAssertGreaterThanOrEqual(Int(before[3]) ?? 0, 1, "the dump request answers with lo at least: \(before)")
        XCTAssertTrue(before[9].contains("[5,33]"), "joined groups 5 and 33: \(before)")
        let image = try checkpoint(program)
        let saved = try String(contentsOfFile: try ImageFiles(directory: image, pid: program.pid).processFile(), encoding: .utf8)
        XCTAssertTrue(saved.contains("\"netlinkSocket\""), "the image holds netlink sockets")
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("netlink ROUTE port ") && show.stdout.contains(" groups 5,33"), "show names the route socket: \(show)")
        XCTAssertTrue(show.stdout.contains("netlink KOBJECT_UEVENT unbound"), "\(show)")

        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 2, after: mark)
        let after = try last()
        XCTAssertEqual(after[9], before[9], "port ids, groups, options and peers after the restore")
        XCTAssertEqual(after[3], before[3], "the restored request socket is answered")
        XCTAssertGreaterThan(Int(after[1]) ?? 0, Int(before[1]) ?? 0, "ticks go on")
        XCTAssertEqual(after[7], "note_\(after[1])", "a USERSOCK message reaches the bound socket through the connected one")

        let events = try XCTUnwrap(Int(after[5]))
        try toggleLoopbackAddress()
        let deadline = Date().addingTimeInterval(15)
        var heard = events
        while heard < events + 2 && Date() < deadline {
            usleep(50_000)
            heard = (try? last()).flatMap { Int($0[5]) } ?? heard
        }
        XCTAssertGreaterThanOrEqual(heard, events + 2, "the restored listener hears the address added and removed")
        assertNoFailures(program)
    }

    /// An event the program has not read yet cannot be put into a new
    /// socket: refused, naming the socket, and the program reads it after.
    func testUnreadNetlinkMessagesRefuseTheDump() throws {
        let go = scratch.newPath("go")
        let program = try startPython("netlink-unread", """
            import os, socket, sys, time
            rt = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            rt.bind((0, 0x10))
            print("fd", rt.fileno(), flush=True)
            print("ready", flush=True)
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.05)
            print("read", len(rt.recv(65536)) > 0, flush=True)
            while True:
                time.sleep(1)
            """, [go])
        let fd = try XCTUnwrap(program.numbers("fd").first)
        try toggleLoopbackAddress()
        usleep(100_000)
        try assertDumpRefused(program, mentioning: ["fd \(fd) is a netlink socket", "messages not yet read"])
        XCTAssertTrue(FileManager.default.createFile(atPath: go, contents: nil))
        try program.waitFor(line: "read True")
        assertNoFailures(program)
    }

    /// NETLINK_NETFILTER binds queues and logs to port ids in the kernel;
    /// a new socket would not have them.
    func testNetfilterNetlinkSocketIsRefusedByFamily() throws {
        let program = try startPython("netlink-netfilter", """
            import socket, time
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
            s.bind((0, 0))
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        try assertDumpRefused(program, mentioning: ["is a netlink socket", "of NETFILTER", "registrations by port id"])
    }
}
