import Glibc
import XCTest

/// Handlers, the blocked mask and a pending signal, none of which any
/// register set holds, come back: the pending SIGUSR2 is delivered after
/// the restore exactly once, with the sender it had.
final class SignalsTests: EndToEndCase {
    func testPendingSignalIsDeliveredOnceAfterRestore() throws {
        let signals = try startFixture("signals")
        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 1")
        try signals.signal(SIGUSR2)
        try signals.waitFor(line: "usr2 pending")

        let (_, mark) = try roundTrip(signals)
        // The fixture checks every 20 ms that SIGUSR2 is still pending and
        // every disposition is as installed; give it a few rounds.
        sleepSeconds(0.3)
        assertNoFailures(signals)

        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 2", from: mark)
        try signals.waitFor(line: "usr2 delivered from \(getpid()) code \(SI_USER)", from: mark)
        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 3", from: mark)
        sleepSeconds(0.2)

        XCTAssertEqual(signals.log.lines().filter { $0.hasPrefix("usr2 delivered") }.count, 1)
        XCTAssertTrue(ProcessTable.isAlive(signals.pid))
        assertNoFailures(signals)
    }
}
