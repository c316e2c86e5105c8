import XCTest

/// Socket options a server sets and never looks at again, so losing one
/// is silent: struct and string options (SO_LINGER, the receive and send
/// timeouts, SO_BINDTODEVICE, TCP_CONGESTION) and integers beyond the
/// common ones (TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, IP_FREEBIND,
/// IP_RECVTOS), on a TCP listener, a UDP socket and a unix socketpair.
final class SocketOptionsTests: EndToEndCase {
    func testLessCommonSocketOptionsComeBack() throws {
        let program = try startPython("socket-options", """
            import socket, struct, time
            S, T, IP = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IP
            listener = socket.socket()
            listener.setsockopt(S, socket.SO_LINGER, struct.pack("ii", 1, 5))
            listener.setsockopt(S, socket.SO_RCVTIMEO, struct.pack("ll", 2, 500000))
            listener.setsockopt(S, 25, b"lo")                       # SO_BINDTODEVICE
            listener.setsockopt(T, 18, 3000)                        # TCP_USER_TIMEOUT
            listener.setsockopt(T, 25, 16384)                       # TCP_NOTSENT_LOWAT
            listener.setsockopt(T, 13, b"reno")                     # TCP_CONGESTION
            listener.setsockopt(IP, 15, 1)                          # IP_FREEBIND
            listener.bind(("127.0.0.1", 0)); listener.listen(4)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(IP, 13, 1)                               # IP_RECVTOS
            udp.setsockopt(S, socket.SO_SNDTIMEO, struct.pack("ll", 0, 200000))
            udp.bind(("127.0.0.1", 0))
            left, right = socket.socketpair()
            left.setsockopt(S, socket.SO_RCVTIMEO, struct.pack("ll", 7, 0))
            def options():
                return " ".join(str(v) for v in [
                    struct.unpack("ii", listener.getsockopt(S, socket.SO_LINGER, 8)),
                    struct.unpack("ll", listener.getsockopt(S, socket.SO_RCVTIMEO, 16)),
                    listener.getsockopt(S, 25, 16).rstrip(b"\\0"),
                    listener.getsockopt(T, 18), listener.getsockopt(T, 25),
                    listener.getsockopt(T, 13, 16).rstrip(b"\\0"), listener.getsockopt(IP, 15),
                    udp.getsockopt(IP, 13), struct.unpack("ll", udp.getsockopt(S, socket.SO_SNDTIMEO, 16)),
                    struct.unpack("ll", left.getsockopt(S, socket.SO_RCVTIMEO, 16)),
                ]).replace(" ", "")
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, options(), flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let before = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }?.split(separator: " ").last.map(String.init))
        XCTAssertEqual(before, "(1,5)(2,500000)b'lo'300016384b'reno'11(0,200000)(7,0)", "the options as set")
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 2, after: mark)
        let after = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }?.split(separator: " ").last.map(String.init))
        XCTAssertEqual(after, before, "the options after the restore")
        assertNoFailures(program)
    }
}
