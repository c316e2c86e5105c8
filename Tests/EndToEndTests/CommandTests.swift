import XCTest

/// The commands that only report: what a user reads before trusting a dump.
final class CommandTests: EndToEndCase {
    func testCheckReportsEveryFeatureOnItsOwnLine() throws {
        let result = try crtool(["check"], timeout: 30)
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertGreaterThanOrEqual(result.stdoutLines.count, 3, "\(result)")
    }

    func testDumpSummaryAndShowDescribeTheImage() throws {
        let threads = try startFixture("threads")
        try threads.waitFor("counts", atLeast: 1)
        let tids = ProcessTable.threadIds(of: threads.pid)
        let dir = try scratch.newDirectory("image")

        let dump = try crtool(["dump", "-t", "\(threads.pid)", "-D", dir, "--compress", "zstd"])
        XCTAssertTrue(dump.succeeded, "\(dump)")
        XCTAssertEqual(dump.stdoutLines.count, 1, "a dump prints a one-line summary: \(dump)")

        let show = try crtool(["show", dir], timeout: 30)
        XCTAssertTrue(show.succeeded, "\(show)")
        let text = show.stdout.lowercased()
        for tid in tids {
            XCTAssertTrue(text.contains("\(tid)"), "show does not list thread \(tid): \(show)")
        }
        for word in ["vma", "page", "zstd"] {
            XCTAssertTrue(text.contains(word), "show does not mention \(word): \(show)")
        }
    }
}
