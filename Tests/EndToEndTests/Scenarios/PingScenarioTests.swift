import Glibc
import Ptrace
import XCTest

/// ping (iputils) sends an ICMP echo every 0.2 s through its raw sockets
/// and counts the replies. After the restore it goes on from the next
/// sequence number and, asked to stop, reports what it sent and got.
final class PingScenarioTests: EndToEndCase {
    /// As root without ping sockets, ping uses raw sockets.
    func testPingCarriesOnCountingAfterTheRestore() throws {
        try pingCarriesOn()
    }

    /// Where net.ipv4.ping_group_range lets it (systemd's default), ping
    /// uses ICMP datagram sockets instead, even as root.
    func testPingThroughICMPDatagramSocketsCarriesOn() throws {
        try allowPingSockets()
        try pingCarriesOn(expecting: "PING")
    }

    private func pingCarriesOn(expecting protocolName: String = "RAW") throws {
        let ping = "/usr/bin/ping"
        try requirePrograms(ping, from: "Debian's iputils-ping")
        let program = try startProgram("ping", ping, ["-i", "0.2", "127.0.0.1"], isReady: nil)
        func sequences(from start: Int = 0, before end: Int = .max) -> [Int] {
            program.log.lines().prefix(end).dropFirst(start).compactMap { line in
                line.range(of: "icmp_seq=").flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
            }
        }
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { sequences().count >= 3 }, "ping never got going: \(program.log.tail())")
        let socketKinds = (try FileManager.default.contentsOfDirectory(atPath: "/proc/\(program.pid)/fd")).compactMap {
            SocketProtocol.name(of: "/proc/\(program.pid)/fd/\($0)")
        }
        XCTAssertTrue(socketKinds.contains(protocolName), "ping uses \(protocolName) sockets: \(socketKinds)")

        let (_, mark) = try roundTrip(program)
        // Lines from before the dump only: the restored ping may already have printed.
        let lastBefore = try XCTUnwrap(sequences(before: mark).last)
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { sequences(from: mark).count >= 5 }, "no replies after the restore: \(program.log.tail())")
        let after = sequences(from: mark)
        XCTAssertGreaterThan(after.first ?? 0, lastBefore, "sequence numbers go on: \(after)")
        XCTAssertLessThanOrEqual(after.first ?? 0, lastBefore + 2, "at most the echo in flight at the dump is lost: \(after)")
        XCTAssertEqual(after, Array(after.first!..<(after.first! + after.count)), "every echo after the restore is answered")

        try program.signal(SIGINT)
        let summary = try program.waitFor("the summary", from: mark) { $0.contains("packets transmitted") }.line
        let counts = summary.split(separator: " ").compactMap { Int($0) }
        XCTAssertGreaterThanOrEqual(counts.count, 2, summary)
        if counts.count >= 2 {
            XCTAssertGreaterThan(counts[0], lastBefore, "ping counts what it sent before the dump too: \(summary)")
            XCTAssertLessThanOrEqual(counts[0] - counts[1], 2, "replies: \(summary)")
        }
    }
}
