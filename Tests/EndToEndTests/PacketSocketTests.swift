import Glibc
import XCTest

/// Packet sockets come back bound to the same interface and ethertype,
/// with their options and memberships (lo's promiscuous mode goes with
/// the socket and comes back with it), and capture frames again. What
/// crtool cannot save is refused by name: a send ring, and a receive ring
/// whose kernel writes next into the middle of a block (the rings crtool
/// saves are PacketRingTests').
final class PacketSocketTests: EndToEndCase {
    private static let promiscuous: UInt = 0x100 // IFF_PROMISC

    private func loopbackFlags() throws -> UInt {
        let text = try XCTUnwrap(readTextFile("/sys/class/net/lo/flags")).trimmingCharacters(in: .whitespacesAndNewlines)
        return try XCTUnwrap(UInt(text.dropFirst(2), radix: 16), text)
    }

    func testPacketSocketComesBackBoundPromiscuousAndCapturing() throws {
        let program = try startPython("packet-socket", """
            import socket, struct, time
            ETH_P_IP = 0x0800
            s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
            s.bind(("lo", ETH_P_IP))
            s.setsockopt(263, 8, 1)                                         # PACKET_AUXDATA
            s.setsockopt(263, 1, struct.pack("iHH8s", socket.if_nametoindex("lo"), 1, 0, b""))  # PACKET_MR_PROMISC
            s.setblocking(False)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            u.setblocking(False)                                            # a datagram queued at the dump is not kept
            port = u.getsockname()[1]
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                u.sendto(b"crtool-frame-%d" % n, ("127.0.0.1", port))
                time.sleep(0.05)
                seen = 0
                try:
                    while True:
                        seen += b"crtool-frame-%d" % n in s.recv(2000)
                except BlockingIOError:
                    pass
                try:
                    u.recv(100)
                except BlockingIOError:
                    pass
                state = ",".join(str(v) for v in [s.getsockname()[:2], s.getsockopt(263, 8), s.getblocking()]).replace(" ", "")
                print("tick", n, "seen", seen, "state", state, flush=True)
            """)
        try program.waitFor("tick", atLeast: 2)
        let before = try program.lastWords("tick")
        XCTAssertEqual(before[3], "1", "the frame is captured before the dump: \(before)")
        XCTAssertNotEqual(try loopbackFlags() & Self.promiscuous, 0, "the socket put lo in promiscuous mode")

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("packet ethertype 0x800 on lo, 1 memberships"), "show names the packet socket: \(show)")
        XCTAssertEqual(try loopbackFlags() & Self.promiscuous, 0, "the dumped socket is gone, and lo's promiscuous mode with it")
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        let after = try program.lastWords("tick")
        XCTAssertEqual(after[3], "1", "the frame is captured after the restore: \(after)")
        XCTAssertEqual(after[5], before[5], "interface, ethertype and options after the restore")
        XCTAssertNotEqual(try loopbackFlags() & Self.promiscuous, 0, "the membership is back")
        assertNoFailures(program)
    }

    /// Two sockets of a fanout group that balances frames between them
    /// (PACKET_FANOUT_LB, with the defragmenting flag) are in the group
    /// again after the restore, with its mode and flags, and share the
    /// frames again; a group steered by a BPF program is refused.
    func testFanoutGroupComesBackAndSharesFrames() throws {
        let program = try startPython("packet-fanout", """
            import os, socket, struct, time
            ETHERTYPE = 0x88B6
            GROUP = 0x4242
            def member():
                s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETHERTYPE))
                s.bind(("lo", ETHERTYPE))
                s.setsockopt(263, 18, struct.pack("I", GROUP | (1 | 0x8000) << 16))  # PACKET_FANOUT: LB, FLAG_DEFRAG
                s.setblocking(False)
                return s
            a, b = member(), member()
            out = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
            out.bind(("lo", ETHERTYPE))
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                for _ in range(10):
                    out.sendto(b"frame", ("lo", ETHERTYPE, 0, 0, b"\\0" * 6))
                seen = {a: 0, b: 0}
                deadline = time.time() + 1                                  # frames sent before a dump are lost with their queue
                while seen[a] + seen[b] < 10 and time.time() < deadline:
                    for s in (a, b):
                        try:
                            while True:
                                s.recv(100)
                                seen[s] += 1
                        except BlockingIOError:
                            pass
                    time.sleep(0.01)
                groups = ",".join("%x" % (s.getsockopt(263, 18) & 0xffffffff) for s in (a, b))
                print("tick", n, "groups", groups, "seen", seen[a], seen[b], flush=True)
            """)
        try program.waitFor("tick", atLeast: 2)
        let before = try program.lastWords("tick")
        XCTAssertEqual(before[3], "80014242,80014242", "both sockets are in the group, its mode and flag as asked: \(before)")
        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("packet ethertype 0x88b6 on lo, in fanout group 16962 (mode 1)"), "show names the group: \(show)")
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        let after = try program.lastWords("tick")
        XCTAssertEqual(after[3], before[3], "the group, mode and flag after the restore: \(after)")
        XCTAssertEqual([after[5], after[6]], ["5", "5"], "the group balances ten frames between its two sockets: \(after)")
        assertNoFailures(program)

        try assertPacketSocketRefused("packet-fanout-bpf", setup: """
            import socket, struct, time
            s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x88B7))
            s.bind(("lo", 0x88B7))
            s.setsockopt(263, 18, 0x4343 | 6 << 16)                          # PACKET_FANOUT_CBPF
            """, mentioning: ["fanout group 17219", "BPF program"])
    }

    func testPacketSocketWithASendRingIsRefused() throws {
        try assertPacketSocketRefused("packet-tx-ring", setup: """
            import socket, struct, time
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.setsockopt(263, 13, struct.pack("IIII", 4096, 1, 2048, 2))    # PACKET_TX_RING
            """, mentioning: ["with a send ring (PACKET_TX_RING)"])
    }

    /// A ring of two slots to a block with one frame in it: a restored
    /// ring could not have the kernel write next into the second slot.
    func testARingWhoseKernelWritesNextInTheMiddleOfABlockIsRefused() throws {
        try assertPacketSocketRefused("packet-ring-pairs", setup: """
            import mmap, socket, struct, time
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.setsockopt(263, 10, 1)                                         # PACKET_VERSION, TPACKET_V2
            s.setsockopt(263, 5, struct.pack("IIII", 4096, 2, 2048, 4))      # PACKET_RX_RING
            ring = mmap.mmap(s.fileno(), 8192)
            s.bind(("lo", 0x88B8))
            out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            out.bind(("lo", 0x88B8))
            out.send(bytes(12) + b"\\x88\\xb8" + b"frame".ljust(50, b"\\0"))
            while not ring[0] & 1:                                           # TP_STATUS_USER
                time.sleep(0.01)
            """, mentioning: ["slot 1 of block 0", "cannot checkpoint that yet"])
    }

    /// Runs `setup`, python that leaves a packet socket in `s`, and holds
    /// the socket open: its dump must be refused, naming its fd and each
    /// of `texts`.
    private func assertPacketSocketRefused(_ name: String, setup: String, mentioning texts: [String]) throws {
        let program = try startPython(name, setup + """

            print("fd", s.fileno(), flush=True)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        let fd = try XCTUnwrap(program.numbers("fd").first)
        try assertDumpRefused(program, mentioning: ["fd \(fd) is a packet socket"] + texts)
    }
}
