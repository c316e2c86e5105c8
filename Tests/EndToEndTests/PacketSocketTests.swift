import Glibc
import XCTest

/// Packet sockets come back bound to the same interface and ethertype,
/// with their options and memberships (lo's promiscuous mode goes with
/// the socket and comes back with it), and capture frames again. A
/// receive ring of TPACKET_V1, which crtool does not save (it saves
/// libpcap's V3 rings, PacketRingTests), is refused by name.
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
        func last() throws -> [String] {
            try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }).split(separator: " ").map(String.init)
        }
        let before = try last()
        XCTAssertEqual(before[3], "1", "the frame is captured before the dump: \(before)")
        XCTAssertNotEqual(try loopbackFlags() & Self.promiscuous, 0, "the socket put lo in promiscuous mode")

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("packet ethertype 0x800 on lo, 1 memberships"), "show names the packet socket: \(show)")
        XCTAssertEqual(try loopbackFlags() & Self.promiscuous, 0, "the dumped socket is gone, and lo's promiscuous mode with it")
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        let after = try last()
        XCTAssertEqual(after[3], "1", "the frame is captured after the restore: \(after)")
        XCTAssertEqual(after[5], before[5], "interface, ethertype and options after the restore")
        XCTAssertNotEqual(try loopbackFlags() & Self.promiscuous, 0, "the membership is back")
        assertNoFailures(program)
    }

    func testPacketSocketWithARingIsRefused() throws {
        let program = try startPython("packet-ring", """
            import socket, struct, time
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.setsockopt(263, 5, struct.pack("IIII", 4096, 1, 2048, 2))    # PACKET_RX_RING
            print("fd", s.fileno(), flush=True)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        let fd = try XCTUnwrap(program.numbers("fd").first)
        try assertDumpRefused(program, mentioning: ["fd \(fd) is a packet socket", "with a TPACKET_V1 receive ring"])
    }
}
