import Glibc
import XCTest

/// Eight threads come back with their own TIDs, registers and counters.
final class ThreadsTests: EndToEndCase {
    func testEveryThreadCarriesOnWithItsTidAndCounter() throws {
        let threads = try startFixture("threads")
        try threads.waitFor("counts", atLeast: 1)
        let tidsBefore = ProcessTable.threadIds(of: threads.pid)
        XCTAssertEqual(tidsBefore.count, 9, "main thread and 8 workers")

        let (_, mark) = try roundTrip(threads)
        let before = try XCTUnwrap(counts(in: threads.log.lines().prefix(mark).last { $0.hasPrefix("counts ") }))

        XCTAssertEqual(ProcessTable.threadIds(of: threads.pid), tidsBefore, "thread IDs changed")
        let first = try threads.waitFor("counts after restore", from: mark) { $0.hasPrefix("counts ") }
        let after = try XCTUnwrap(counts(in: first.line))
        for i in 0..<8 {
            XCTAssertGreaterThanOrEqual(after[i], before[i], "thread \(i) went back")
        }
        try threads.waitFor("every counter past its value at the dump", from: mark) { line in
            guard let now = self.counts(in: line) else { return false }
            return zip(now, before).allSatisfy { $0 > $1 }
        }
        assertNoFailures(threads)
    }

    private func counts(in line: String?) -> [Int]? {
        guard let line, line.hasPrefix("counts ") else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        return values.count == 8 ? values : nil
    }
}
