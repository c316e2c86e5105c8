import Foundation
import Glibc
import XCTest

/// A UDP socket that joined a multicast group goes on receiving the
/// group's datagrams after a restore: the group is joined again on the
/// interface of the same name. Before, the socket came back bound and
/// silent (the interface had left the group).
final class MulticastTests: EndToEndCase {
    func testReceiverStaysInItsGroup() throws {
        guard let python = BuildProducts.python3 else { throw HarnessError("this test needs python3") }
        let group = "239.7.\(getpid() % 200).\(getpid() % 199 + 1)"
        let receiver = try startPython("receiver", """
            import socket, struct, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 0))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(sys.argv[1]), socket.inet_aton("0.0.0.0")))
            print("port", s.getsockname()[1], flush=True)
            print("ready", flush=True)
            while True:
                print("got", s.recv(100).decode(), flush=True)
            """, [group])
        let port = try receiver.waitFor("port", atLeast: 1)
        try send("before the dump", to: group, port: port, python: python)
        try receiver.waitFor(line: "got before the dump")

        let (_, mark) = try roundTrip(receiver)
        try send("after the restore", to: group, port: port, python: python)
        try receiver.waitFor(line: "got after the restore", from: mark)
        assertNoFailures(receiver)
    }

    /// IPv6: the group, joined on the loopback interface, is the
    /// interface's again once the restored socket joined it, and not
    /// between the dump and the restore.
    func testIPv6GroupIsJoinedAgain() throws {
        let group = String(format: "ff15::c7:%x", getpid() & 0xffff)
        let member = try startPython("member6", """
            import socket, struct, sys, time
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.bind(("::", 0))
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, sys.argv[1]) + struct.pack("@I", socket.if_nametoindex("lo")))
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """, [group])
        let hex = try groupHex(group)
        XCTAssertTrue(interfaceGroups6().contains(hex), "joined before the dump")
        let image = try checkpoint(member)
        XCTAssertFalse(interfaceGroups6().contains(hex), "left with the dumped process")
        try restore(image, as: member)
        XCTAssertTrue(interfaceGroups6().contains(hex), "joined again by the restore")
        assertNoFailures(member)
    }

    private func groupHex(_ group: String) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, group, &bytes) == 1 else { throw HarnessError("bad group \(group)") }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The groups /proc/net/igmp6 lists for "lo".
    private func interfaceGroups6() -> [String] {
        (readTextFile("/proc/net/igmp6") ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            return f.count >= 3 && f[1] == "lo" ? String(f[2]) : nil
        }
    }

    /// A datagram to the group from another process, looped back to this host.
    private func send(_ text: String, to group: String, port: Int, python: String) throws {
        let result = try runCommand(python, ["-c", """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            s.sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))
            """, text, group, "\(port)"], outputPrefix: scratch.newPath("send"), timeout: 10)
        guard result.succeeded else { throw HarnessError("sending to \(group):\(port): \(result)") }
    }
}
