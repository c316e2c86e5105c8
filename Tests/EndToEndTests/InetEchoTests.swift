import Glibc
import Ptrace
import XCTest

/// TCP listeners on 127.0.0.1 and ::1 and a UDP socket come back on their
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
        let last = try XCTUnwrap(fixture.numbers("tick").last)
        try fixture.waitFor("tick", atLeast: last + 3, from: mark)
        assertNoFailures(fixture)
    }

    private func talk(_ ports: EchoPorts, tag: String) throws {
        let tcp = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: ports.tcp))
        XCTAssertEqual(try tcp.ask("\(tag) tcp\n"), "echo \(tag) tcp\n")
        let tcp6 = try SocketClient(connectingTo: .inet(host: "::1", port: ports.tcp6))
        XCTAssertEqual(try tcp6.ask("\(tag) tcp6\n"), "echo \(tag) tcp6\n")
        let udp = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: ports.udp), type: Int32(SOCK_DGRAM.rawValue))
        XCTAssertEqual(try udp.ask("\(tag) udp"), "echo \(tag) udp")
    }
}
