import Foundation
import Glibc
import Ptrace
import XCTest

/// Debian's tcpdump capturing on lo through libpcap's TPACKET_V3 receive
/// ring, dumped and restored while datagrams arrive: it prints every
/// datagram once, in order, those that reached its ring before the dump
/// and had not been printed included, and goes on capturing.
final class TcpdumpScenarioTests: EndToEndCase {
    func testTcpdumpPrintsEveryDatagramOnceAcrossTheRestore() throws {
        let tcpdump = "/usr/bin/tcpdump"
        try requirePrograms(tcpdump, from: "Debian's tcpdump")
        let port = try TestSocket.freeLoopbackPort()
        // -l: a line at a time; -A: payloads as text; -p: lo stays out of
        // promiscuous mode.
        let program = try startProgram("tcpdump", tcpdump, ["-i", "lo", "-n", "-l", "-p", "-A", "udp", "and", "dst", "port", "\(port)"], isReady: nil)
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { (readTextFile(program.stderrPath) ?? "").contains("listening on lo") },
                      "tcpdump never started capturing: \(program.stderrTail())")

        // A socket to take the datagrams, so that no port-unreachable
        // answer refuses the next send.
        let receiver = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(receiver) }
        try Sockets.bind(receiver, .inet4(address: [127, 0, 0, 1], port: port))
        let sender = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(sender) }
        XCTAssertEqual(Sockets.connect(sender, .inet4(address: [127, 0, 0, 1], port: port)), 0)
        func send(_ range: ClosedRange<Int>) throws {
            for n in range { _ = try Sockets.send(sender, Array("crtool-count-\(n);".utf8), flags: 0).get() }
        }
        func counts() -> [Int] {
            program.log.lines().compactMap { line in
                line.range(of: "crtool-count-").flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
            }
        }
        try send(1...20)
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { counts().last == 20 }, "tcpdump printed \(counts())")
        // Sent just before the dump: some may wait in the block the kernel
        // is filling, which libpcap sees only once the block is handed over.
        try send(21...40)

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("a receive ring of"), "show names tcpdump's ring: \(show)")
        try restore(image, as: program)
        try send(41...60)
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { counts().last == 60 }, "tcpdump printed \(counts())")
        XCTAssertEqual(counts(), Array(1...60), "every datagram once, in order")
        XCTAssertTrue(ProcessTable.isAlive(program.pid))
    }
}
