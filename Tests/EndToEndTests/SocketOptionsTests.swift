import Glibc
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

    /// Classic BPF socket filters (SO_ATTACH_FILTER), locked or not: a UDP
    /// socket whose filter drops everything, locked (SO_LOCK_FILTER), and
    /// a unix datagram pair whose filter keeps the first three bytes.
    func testClassicSocketFiltersComeBack() throws {
        let program = try startPython("socket-filters", """
            import ctypes, socket, struct, time
            def attach(s, instructions):
                code = b"".join(struct.pack("HBBI", *i) for i in instructions)
                buf = ctypes.create_string_buffer(code, len(code))
                s.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(instructions), ctypes.addressof(buf)))
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0)); udp.setblocking(False)
            attach(udp, [(0x06, 0, 0, 0)])                          # ret #0: drop
            udp.setsockopt(socket.SOL_SOCKET, 44, 1)                # SO_LOCK_FILTER
            left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            attach(left, [(0x06, 0, 0, 3)])                         # ret #3: keep 3 bytes
            print("port", udp.getsockname()[1], flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                try:
                    got = udp.recv(100)
                except BlockingIOError:
                    got = b""
                try:
                    udp.setsockopt(socket.SOL_SOCKET, 27, 0)        # SO_DETACH_FILTER
                    locked = False
                except PermissionError:
                    locked = True
                right.send(b"hello")
                print("tick", n, "udp", len(got), "locked", locked, "pair", left.recv(100).decode(), flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let port = try XCTUnwrap(program.numbers("port").first)
        let (_, mark) = try roundTrip(program)
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        var address = TestSocket.loopback(port: UInt16(port))
        for _ in 0..<5 {
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, "dropped", 7, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            usleep(20_000)
        }
        try program.waitForMore("tick", 4, after: mark)
        let lines = program.log.lines().filter { $0.hasPrefix("tick ") }
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            XCTAssertTrue(line.hasSuffix(" udp 0 locked True pair hel"), line)
        }
        assertNoFailures(program)
    }

    /// An eBPF socket filter (SO_ATTACH_BPF) has no classic form the kernel
    /// can give back: the dump refuses it, naming the socket, and leaves
    /// the process running.
    func testEBPFSocketFilterIsRefused() throws {
        let program = try startPython("ebpf-filter", """
            import ctypes, os, socket, struct, time
            libc = ctypes.CDLL(None, use_errno=True)
            code = struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)   # r0 = 0; exit
            insns = ctypes.create_string_buffer(code, len(code))
            license = ctypes.create_string_buffer(b"GPL")
            attr = struct.pack("<IIQQIIQI", 1, 2, ctypes.addressof(insns), ctypes.addressof(license), 0, 0, 0, 0)
            attr = ctypes.create_string_buffer(attr + bytes(128 - len(attr)), 128)
            prog = libc.syscall(321, 5, attr, 128)                  # BPF_PROG_LOAD, socket filter
            if prog < 0:
                print("FAIL: BPF_PROG_LOAD", ctypes.get_errno(), flush=True)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, 50, struct.pack("i", prog))   # SO_ATTACH_BPF
            os.close(prog)
            print("fd", udp.fileno(), flush=True)
            print("ready", flush=True)
            while True:
                time.sleep(0.05)
            """)
        assertNoFailures(program)
        let fd = try XCTUnwrap(program.numbers("fd").first)
        _ = try assertDumpRefused(program, mentioning: ["fd \(fd) has an eBPF socket filter"])
    }

    /// A socket bound to an interface (SO_BINDTODEVICE) that is gone at
    /// the restore: the restore fails naming the option and the interface,
    /// and makes nothing; with the interface back, it restores the binding.
    func testBindingToAnInterfaceTheHostLacksFailsTheRestoreClearly() throws {
        let interface = "crtbd\(getpid() % 100000)"
        func link(_ arguments: [String]) throws {
            let result = try runCommand("/usr/sbin/ip", ["link"] + arguments, outputPrefix: scratch.newPath("ip"), timeout: 30)
            guard result.succeeded else { throw HarnessError("ip link \(arguments.joined(separator: " ")): \(result)") }
        }
        try link(["add", interface, "type", "veth", "peer", "name", interface + "p"])
        defer { try? link(["del", interface]) }
        let program = try startPython("bound-to-device", """
            import socket, sys, time
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, 25, sys.argv[1].encode())
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, udp.getsockopt(socket.SOL_SOCKET, 25, 16).rstrip(b"\\0").decode(), flush=True)
                time.sleep(0.05)
            """, [interface])
        try program.waitFor("tick", atLeast: 2)
        let image = try checkpoint(program)
        try link(["del", interface])

        let refused = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(refused.succeeded, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("SO_BINDTODEVICE (\(interface))"), "the error should name the option and the interface: \(refused)")
        XCTAssertTrue(ProcessTable.isFree(program.pid), "a failed restore left pid \(program.pid) behind")

        try link(["add", interface, "type", "veth", "peer", "name", interface + "p"])
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 2, after: mark)
        let last = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") })
        XCTAssertTrue(last.hasSuffix(" \(interface)"), "bound to \(interface) after the restore: \(last)")
        try killAndReap(program.pid)
    }
}
