import Glibc
import XCTest

/// Raw sockets come back with their protocol, bound and connected
/// addresses, ICMP type filters, IP_HDRINCL and BPF filters, and work: an
/// ICMP echo sent through the restored socket is answered through it.
final class RawSocketTests: EndToEndCase {
    func testRawSocketsComeBackAndStillEcho() throws {
        let program = try startPython("raw-sockets", """
            import os, socket, struct, time
            IP, RAW = socket.IPPROTO_IP, 255
            icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            icmp.setsockopt(RAW, 1, struct.pack("I", 0xffffffff & ~1))   # ICMP_FILTER: echo replies only
            icmp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 200000)
            icmp.bind(("127.0.0.1", 0))
            icmp.connect(("127.0.0.1", 0))
            icmp.settimeout(2)
            six = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            six.setsockopt(socket.IPPROTO_ICMPV6, 1, bytes(32))            # ICMPV6_FILTER: pass all
            six.setsockopt(socket.IPPROTO_IPV6, 51, 1)                     # IPV6_RECVHOPLIMIT
            six.connect(("::1", 0))
            other = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)    # an experimental protocol
            other.setsockopt(IP, 3, 1)                                     # IP_HDRINCL
            other.setblocking(False)
            def checksum(data):
                total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
                total = (total >> 16) + (total & 0xffff)
                return ~(total + (total >> 16)) & 0xffff
            def echo(seq):
                body = struct.pack("!HH", os.getpid() & 0xffff, seq) + b"crtool-raw"
                icmp.send(struct.pack("!BBH", 8, 0, checksum(b"\\x08\\x00\\x00\\x00" + body)) + body)
                while True:
                    packet = icmp.recv(1500)
                    header = (packet[0] & 15) * 4
                    kind, _, _, ident, got = struct.unpack_from("!BBHHH", packet, header)
                    if kind == 0 and ident == os.getpid() & 0xffff and got == seq:
                        return True
            def state():
                return ",".join(str(v) for v in [
                    icmp.getsockname(), struct.unpack("I", icmp.getsockopt(RAW, 1, 4))[0],
                    icmp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), six.getsockname()[:2],
                    six.getsockopt(socket.IPPROTO_IPV6, 51), six.getsockopt(socket.IPPROTO_ICMPV6, 1, 32).hex(),
                    other.getsockopt(IP, 3), other.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), other.getblocking(),
                ]).replace(" ", "")
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, "echo", echo(n), "state", state(), flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let before = try program.lastWords("tick")
        XCTAssertEqual(before[3], "True", "the echo is answered before the dump: \(before)")
        let (image, mark) = try roundTrip(program)
        let saved = try String(contentsOfFile: try ImageFiles(directory: image, pid: program.pid).processFile(), encoding: .utf8)
        XCTAssertEqual(saved.components(separatedBy: "\"rawSocket\" : {").count - 1, 3, "three raw sockets in the image")
        try program.waitForMore("tick", 3, after: mark)
        let after = try program.lastWords("tick")
        XCTAssertEqual(after[3], "True", "the echo is answered after the restore: \(after)")
        XCTAssertEqual(after[5], before[5], "addresses, filters and options after the restore")
        assertNoFailures(program)
    }

    /// ICMP datagram ("ping") sockets, IPv4 and IPv6, each bound to its
    /// own echo identifier: the same identifiers after the restore, and
    /// an echo sent through each is answered through it.
    func testICMPDatagramSocketsComeBackWithTheirIdentifiers() throws {
        try allowPingSockets()
        let program = try startPython("ping-sockets", """
            import os, socket, struct, time
            ident = 3000 + os.getpid() % 20000
            four = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            four.bind(("127.0.0.1", ident))
            four.setsockopt(socket.IPPROTO_IP, 11, 1)                      # IP_RECVERR
            four.settimeout(2)
            six = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
            six.bind(("::1", ident + 1))
            six.connect(("::1", 0))
            six.settimeout(2)
            def echo(sock, request, reply, seq, to=None):
                packet = struct.pack("!BBHHH", request, 0, 0, 0, seq) + b"crtool-ping"
                sock.sendto(packet, to) if to else sock.send(packet)
                while True:
                    kind, _, _, _, got = struct.unpack_from("!BBHHH", sock.recv(1500))
                    if kind == reply and got == seq:
                        return True
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                ok = echo(four, 8, 0, n, ("127.0.0.1", 0)) and echo(six, 128, 129, n)
                state = ",".join(str(v) for v in [four.getsockname(), four.getsockopt(socket.IPPROTO_IP, 11),
                                                  six.getsockname()[:2]]).replace(" ", "")
                print("tick", n, "echo", ok, "state", state, flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let before = try program.lastWords("tick")
        XCTAssertEqual(before[3], "True", "\(before)")
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 3, after: mark)
        let after = try program.lastWords("tick")
        XCTAssertEqual(after[3], "True", "echoes are answered after the restore: \(after)")
        XCTAssertEqual(after[5], before[5], "identifiers, addresses and options after the restore")
        assertNoFailures(program)
    }
}
