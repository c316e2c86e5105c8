import Foundation
import Glibc
import Ptrace
import XCTest

/// TCP listeners and UDP sockets on 127.0.0.1 and ::1 come back on their
/// ports with their options (the fixture checks SO_REUSEADDR,
/// SO_REUSEPORT and IPV6_V6ONLY itself) and answer as before.
final class InetEchoTests: EndToEndCase {
    func testEchoServersAnswerAfterRestore() throws {
        let fixture = try startFixture("inetecho")
        let ports = try EchoPorts(fixture)
        try talk(ports, tag: "before")

        let (_, mark) = try roundTrip(fixture)
        try talk(ports, tag: "after")
        try fixture.waitFor(line: "datagram after udp", from: mark)
        let last = fixture.numbers("tick").last ?? 0
        try fixture.waitFor("tick", atLeast: last + 3, from: mark)
        assertNoFailures(fixture)
    }

    /// The ::1 listener did not ask for SO_REUSEADDR, and a connection it
    /// closed first lingers in TIME_WAIT on its port: the restore must
    /// still get the port, and leave the option off as it was.
    func testListenerRebindsOverItsOwnTimeWait() throws {
        let fixture = try startFixture("inetecho")
        let ports = try EchoPorts(fixture)
        do {
            let client = try SocketClient(connectingTo: .inet(host: "::1", port: ports.tcp6))
            XCTAssertEqual(try client.ask("bye\n"), "echo bye\n")
            XCTAssertEqual(try client.receive(), "", "the server closes first")
        }
        XCTAssertTrue(poll(timeout: 5) { timeWaitCount(port: ports.tcp6) > 0 }, "a TIME_WAIT connection on port \(ports.tcp6)")

        let (_, mark) = try roundTrip(fixture)
        XCTAssertGreaterThan(timeWaitCount(port: ports.tcp6), 0, "still in TIME_WAIT when the listener came back")
        try talk(ports, tag: "after")
        let last = fixture.numbers("tick").last ?? 0
        try fixture.waitFor("tick", atLeast: last + 3, from: mark)
        assertNoFailures(fixture)
    }

    /// Something took the TCP listener's and the UDP socket's addresses
    /// after the dump: the restore would fail binding them once the
    /// process exists. Both are named before anything is made, by the
    /// restore and by the check alike, and the restore goes ahead once
    /// they are free again.
    func testTakenAddressesAreNamedBeforeAnythingIsMade() throws {
        let fixture = try startFixture("inetecho")
        let ports = try EchoPorts(fixture)
        let image = try checkpoint(fixture)
        var blockers: [Int32] = []
        defer { blockers.forEach { _ = close($0) } }
        let listener = try Sockets.create(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        blockers.append(listener)
        try Sockets.setIntOption(listener, level: SOL_SOCKET, name: SO_REUSEADDR, 1)
        try Sockets.bind(listener, try SocketAddress.inet(host: "127.0.0.1", port: ports.tcp))
        try Sockets.listen(listener, backlog: 1)
        let datagrams = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        blockers.append(datagrams)
        try Sockets.bind(datagrams, try SocketAddress.inet(host: "127.0.0.1", port: ports.udp))

        try assertRestoreRefused(image, pid: fixture.pid, mentioning: [
            "2 addresses the image's sockets had cannot be taken on this host",
            "127.0.0.1:\(ports.tcp) (a TCP listener, fd ",
            "127.0.0.1:\(ports.udp) (a UDP socket, fd ",
        ])
        let named = try crtool(["restore", "-D", image, "--check-only"]).stderr
        XCTAssertFalse(named.contains(":\(ports.tcp6) ") || named.contains(":\(ports.udp6) "), "the free addresses are not named: \(named)")

        blockers.forEach { _ = close($0) }
        blockers = []
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try talk(ports, tag: "after")
        try fixture.waitFor(line: "datagram after udp", from: mark)
        assertNoFailures(fixture)
    }

    /// Connections in TIME_WAIT (state 06) on local `port`, from /proc/net/tcp6.
    private func timeWaitCount(port: UInt16) -> Int {
        let hexPort = String(format: "%04X", port)
        let lines = (readTextFile("/proc/net/tcp6") ?? "").split(separator: "\n").dropFirst()
        return lines.filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(":" + hexPort) && fields[3] == "06"
        }.count
    }

    private func talk(_ ports: EchoPorts, tag: String) throws {
        let tcp = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: ports.tcp))
        XCTAssertEqual(try tcp.ask("\(tag) tcp\n"), "echo \(tag) tcp\n")
        let tcp6 = try SocketClient(connectingTo: .inet(host: "::1", port: ports.tcp6))
        XCTAssertEqual(try tcp6.ask("\(tag) tcp6\n"), "echo \(tag) tcp6\n")
        let udp = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: ports.udp), type: Int32(SOCK_DGRAM.rawValue))
        XCTAssertEqual(try udp.ask("\(tag) udp"), "echo \(tag) udp")
        let udp6 = try SocketClient(connectingTo: .inet(host: "::1", port: ports.udp6), type: Int32(SOCK_DGRAM.rawValue))
        XCTAssertEqual(try udp6.ask("\(tag) udp6"), "echo \(tag) udp6")
    }
}
