import Glibc
import XCTest

/// A process with a large heap: its memory, down to the page written just
/// before the dump, and its counter must come back exactly.
final class CounterTests: EndToEndCase {
    func testHeapAndCounterSurviveTwoRoundTrips() throws {
        let counter = try startFixture("counter", ["--heap-mib", "256"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 5)
        let mapBefore = try memoryMap(counter.pid)

        for round in 1...2 {
            let (_, mark) = try roundTrip(counter, timeout: 120)
            // Filling memory registers parts of VMAs apart, which splits
            // them; afterwards they must be whole again, as they were.
            XCTAssertEqual(try memoryMap(counter.pid), mapBefore, "round \(round): the memory map differs")
            let lastBefore = try XCTUnwrap(counter.numbers("tick", before: mark).last)
            let next = try counter.waitFor("a tick after restore \(round)", from: mark) { $0.hasPrefix("tick ") }
            XCTAssertEqual(next.line, "tick \(lastBefore + 1)", "round \(round): the counter did not carry on")

            try counter.signal(SIGUSR1)
            let verify = try counter.waitFor("a heap check after restore \(round)", from: mark) { $0.hasPrefix("verify ") }
            XCTAssertEqual(verify.line, "verify \(checksum) ok", "round \(round)")
            try counter.waitFor("tick", atLeast: lastBefore + 5, from: mark)
        }
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    func testLeaveRunningKeepsTheProcessAndTheImageRestores() throws {
        let counter = try startFixture("counter", ["--heap-mib", "64", "--zero-half"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)

        let lowest = try XCTUnwrap(counter.numbers("tick").last)
        let image = try checkpoint(counter, options: ["--leave-running"])
        let highest = try XCTUnwrap(counter.numbers("tick").last)

        // The original carries on as if nothing happened.
        assertRunningFree(counter)
        try counter.waitFor("tick", atLeast: highest + 3)
        let mark = counter.lineCount
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        assertSequence(counter, "tick", startingAt: 1)

        // The image holds the counter as it was during the dump.
        try killAndReap(counter.pid)
        let restoreMark = counter.lineCount
        try restore(image, as: counter)
        let next = try counter.waitFor("a tick after restore", from: restoreMark) { $0.hasPrefix("tick ") }
        let value = try XCTUnwrap(LogLines.number(in: next.line, after: "tick"))
        XCTAssertTrue((lowest + 1)...(highest + 1) ~= value,
                      "first tick after restore is \(value), expected \(lowest + 1)...\(highest + 1)")
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: restoreMark)
        assertNoFailures(counter)
    }
}

extension EndToEndCase {
    /// Each mapping of /proc/PID/maps as "start-end perms offset path".
    func memoryMap(_ pid: pid_t) throws -> [String] {
        let text = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return ([fields[0], fields[1], fields[2]] + fields.dropFirst(5)).joined(separator: " ")
        }
    }

    /// The checksum the counter fixture computed before it said "ready".
    func heapChecksum(_ counter: Fixture) throws -> String {
        let line = try XCTUnwrap(counter.log.lines().first { $0.hasPrefix("heap ") }, "no heap line")
        return try XCTUnwrap(line.split(separator: " ").last.map(String.init))
    }

    /// Has the counter fixture checksum its heap again (SIGUSR1) and waits
    /// for it to match `checksum`, after the log line `mark`.
    func checkHeap(_ counter: Fixture, is checksum: String, from mark: Int) throws {
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
    }

    /// After a dump or restore that failed: the counter fixture runs on as
    /// if nothing happened, neither stopped nor traced, `ticks` more ticks,
    /// its heap still `checksum` when asked to check it.
    func assertCounterCarriesOn(_ counter: Fixture, checksum: String, ticks: Int,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        assertRunningFree(counter, file: file, line: line)
        let last = try XCTUnwrap(counter.numbers("tick").last, file: file, line: line)
        try counter.waitFor("tick", atLeast: last + ticks)
        let mark = counter.lineCount
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
    }
}
