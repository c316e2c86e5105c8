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
        let before = try program.lastWords("tick")
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
        let after = try program.lastWords("tick")
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
            heard = (try? program.lastWords("tick")).flatMap { Int($0[5]) } ?? heard
        }
        XCTAssertGreaterThanOrEqual(heard, events + 2, "the restored listener hears the address added and removed")
        assertNoFailures(program)
    }

    /// An answer the program is about to read is let read: the dump
    /// freezes the tree again once it is, and the program gets every
    /// answer whole, before the dump and after the restore. Rounds take
    /// turns: a dump of every link (a multipart answer still being made)
    /// and lo alone (one message waiting in the queue), and the program is
    /// dumped once in each, the first time left running.
    func testAnAnswerBeingReadIsLetReadAndTheDumpTriesAgain() throws {
        let program = try startPython("netlink-slow-reader", """
            import socket, struct, time
            req = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                whole = n % 2 == 1
                # RTM_GETLINK: NLM_F_REQUEST | NLM_F_DUMP for every link, NLM_F_REQUEST for index 1
                req.send(struct.pack("=IHHII", 32, 18, 0x301 if whole else 0x1, n, 0)
                         + struct.pack("=BBHiII", 0, 0, 0, 0 if whole else 1, 0, 0))
                print("asked", n, flush=True)
                time.sleep(1.0)
                count, done = 0, False
                while not done:
                    data = req.recv(65536)
                    offset = 0
                    while offset < len(data):
                        length, kind, _, seq = struct.unpack_from("=IHHI", data, offset)
                        if seq != n:
                            print("FAIL answer", seq, "to request", n, flush=True)
                        done = done or kind == 3 or not whole
                        count += kind == 16
                        offset += (length + 3) & ~3
                print("tick", n, "links", count, flush=True)
                time.sleep(0.1)
            """)
        /// Links counted in the answers to rounds of each kind.
        func linkCounts(whole: Bool) -> [Int] {
            program.log.lines().compactMap { line -> Int? in
                let words = line.split(separator: " ")
                guard words.count == 4, words[0] == "tick", let n = Int(words[1]), (n % 2 == 1) == whole else { return nil }
                return Int(words[3])
            }
        }
        try program.waitFor("tick", atLeast: 2)
        let links = try XCTUnwrap(linkCounts(whole: true).last)
        XCTAssertGreaterThanOrEqual(links, 1, "lo at least answers")
        XCTAssertEqual(linkCounts(whole: false), [1], "lo alone")

        var image = ""
        var rounds: [Int] = []
        for leaveRunning in [true, false] {
            // Just asked, in a round of the other kind than the last dump's
            // (the program may have asked again before that dump ended):
            // the answer waits unread for a second, longer than crtool
            // takes to start and freeze it.
            var round: Int
            repeat {
                try program.waitForMore("asked", 1, after: program.lineCount)
                round = try XCTUnwrap(program.numbers("asked").last)
            } while rounds.last.map { $0 % 2 == round % 2 } == true
            rounds.append(round)
            image = scratch.newPath("image")
            let dump = try crtool(["dump", "-t", "\(program.pid)", "-D", image] + (leaveRunning ? ["--leave-running"] : []))
            XCTAssertTrue(dump.succeeded, "\(dump)")
            XCTAssertTrue(dump.stdout.contains("times: a netlink socket held an answer or event not yet read)"), "round \(rounds.last!): \(dump)")
        }
        XCTAssertNotEqual(rounds[0] % 2, rounds[1] % 2, "a round of each kind was dumped")
        XCTAssertNotNil(try waitForExit(program.pid, timeout: 10), "the second dump killed the program")
        try waitUntilFree(program.pid)
        XCTAssertEqual(program.numbers("tick").last, rounds[1], "the answer asked for before the dump was read whole before it")

        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 2, after: mark)
        XCTAssertEqual(linkCounts(whole: true).last, links, "the restored socket is answered whole")
        XCTAssertEqual(Set(linkCounts(whole: false)), [1])
        assertNoFailures(program)
    }

    /// An event the program does not read cannot be put into a new socket:
    /// after the dump's tries, refused, naming the socket, and the program
    /// reads it after.
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
        try assertDumpRefused(program, mentioning: ["fd \(fd) is a netlink socket", "messages not yet read", "tried 40 times, for 2000 ms)"])
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
