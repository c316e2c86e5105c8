import Glibc
import XCTest

/// crtool itself killed with SIGKILL in the middle of a dump or pre-dump
/// (kill -9, the OOM killer), at each moment a thread of the tree holds
/// crtool's registers: the scratch area just mapped (the leader with a
/// home frame on its stack), the injected calls made (the leader parked,
/// borrowed), the scratch area just
/// unmapped (a home frame on its stack again). The process must run on
/// as it was: its counter counting by one, its heap whole.
final class KilledCrtoolTests: EndToEndCase {
    private static let points = ["scratch-mapped", "leader-borrowed", "scratch-unmapped"]

    func testADumpKilledAtEachMomentOfItsQuestionsLeavesTheProcessAsItWas() throws {
        try killAtEachPoint(["dump", "--leave-running"])
    }

    func testAPreDumpKilledAtEachMomentOfItsQuestionsLeavesTheProcessAsItWas() throws {
        try killAtEachPoint(["pre-dump"])
    }

    private func killAtEachPoint(_ command: [String]) throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 2)
        for point in Self.points {
            let image = try scratch.newDirectory("image-\(point)")
            let killed = try runCommand("/usr/bin/env", ["CRTOOL_FAULT_KILL_AT=\(point)", BuildProducts.crtool] + command
                                            + ["-t", "\(counter.pid)", "-D", image],
                                        outputPrefix: scratch.newPath("crtool-\(point)"), timeout: 60)
            XCTAssertEqual(killed.status, .signaled(SIGKILL), "\(point): \(killed)")
            // Every thread of crtool has ended once it is reaped, and
            // with them the tracing.
            XCTAssertEqual(ProcessTable.tracer(of: counter.pid), 0, "\(point): still traced")
            let last = try XCTUnwrap(counter.numbers("tick").last)
            try counter.waitFor("tick", atLeast: last + 2)
            let mark = counter.lineCount
            try counter.signal(SIGUSR1)
            try counter.waitFor(line: "verify \(checksum) ok", from: mark)
            assertRunningFree(counter)
        }
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }
}
