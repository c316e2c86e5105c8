import Foundation
import Glibc
import Ptrace
import XCTest

/// Debian's tcpdump capturing on lo through libpcap's receive ring,
/// dumped and restored while datagrams arrive: it prints every datagram
/// once, in order, those that reached its ring before the dump and had
/// not been printed included, and goes on capturing. libpcap's ring is
/// of TPACKET_V3, or of V2 in its immediate mode.
final class TcpdumpScenarioTests: EndToEndCase {
    func testTcpdumpPrintsEveryDatagramOnceAcrossTheRestore() throws {
        try captureAcrossTheRestore(ring: "a receive ring of")
    }

    func testTcpdumpInImmediateModePrintsEveryDatagramOnceAcrossTheRestore() throws {
        // Ten datagrams, each seen twice on lo.
        try captureAcrossTheRestore(options: ["--immediate-mode"], ring: "(TPACKET_V2), 20 held by the program")
    }

    /// Runs tcpdump with `options` through a dump whose `crtool show`
    /// names its ring with `ring`.
    private func captureAcrossTheRestore(options: [String] = [], ring: String) throws {
        let tcpdump = "/usr/bin/tcpdump"
        try requirePrograms(tcpdump, from: "Debian's tcpdump")
        let port = try TestSocket.freeLoopbackPort()
        // -l: a line at a time; -A: payloads as text; -p: lo stays out of
        // promiscuous mode.
        let program = try startProgram("tcpdump", tcpdump, ["-i", "lo", "-n", "-l", "-p", "-A"] + options + ["udp", "and", "dst", "port", "\(port)"],
                                       isReady: nil)
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
        // Bursts of ten: on lo each datagram takes two of the 32 slots of
        // the ring of V2 (one as sent, one as received), and a burst must
        // fit before tcpdump wakes.
        func sendPrinted(_ range: ClosedRange<Int>) throws {
            try send(range)
            XCTAssertTrue(poll(timeout: 15, every: 0.05) { counts().last == range.upperBound }, "tcpdump printed \(counts())")
        }
        try sendPrinted(1...10)
        try sendPrinted(11...20)
        // Sent to tcpdump stopped (^Z): they wait in its ring at the dump,
        // in the block the kernel is filling (which libpcap sees only once
        // the block is handed over) or in slots tcpdump has not read.
        XCTAssertEqual(kill(program.pid, SIGSTOP), 0)
        XCTAssertTrue(poll(timeout: 5) { ProcessTable.isStopped(program.pid) })
        try send(21...30)

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains(ring), "show names tcpdump's ring: \(show)")
        try restore(image, as: program)
        XCTAssertTrue(ProcessTable.isStopped(program.pid), "tcpdump comes back stopped")
        XCTAssertEqual(kill(program.pid, SIGCONT), 0)
        // What it held it prints without more traffic.
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { counts().last == 30 }, "tcpdump printed \(counts())")
        try sendPrinted(31...40)
        try sendPrinted(41...50)
        XCTAssertEqual(counts(), Array(1...50), "every datagram once, in order")
        XCTAssertTrue(ProcessTable.isAlive(program.pid))
    }
}
