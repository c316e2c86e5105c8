import XCTest
@testable import Checkpoint

final class PageRangesTests: XCTestCase {
    private func r(_ page: UInt64, _ count: UInt32) -> PageRange {
        PageRange(address: 0x10000 + page * 4096, pageCount: count)
    }

    func testNormalizedSortsAndMerges() {
        XCTAssertEqual(PageRanges.normalized([r(10, 2), r(0, 3), r(3, 2), r(11, 4), r(20, 0)]), [r(0, 5), r(10, 5)])
    }

    func testIntersection() {
        XCTAssertEqual(PageRanges.intersection([r(0, 10), r(20, 5)], [r(5, 20)]), [r(5, 5), r(20, 5)])
        XCTAssertEqual(PageRanges.intersection([r(0, 4)], [r(4, 4)]), [])
        XCTAssertEqual(PageRanges.intersection([r(0, 2), r(3, 1), r(6, 3)], [r(1, 6)]), [r(1, 1), r(3, 1), r(6, 1)])
    }

    func testSubtracting() {
        XCTAssertEqual(PageRanges.subtracting([r(0, 10), r(20, 5)], [r(2, 2), r(6, 1), r(9, 12)]), [r(0, 2), r(4, 2), r(7, 2), r(21, 4)])
        XCTAssertEqual(PageRanges.subtracting([r(0, 4)], []), [r(0, 4)])
        XCTAssertEqual(PageRanges.subtracting([r(0, 4)], [r(0, 4)]), [])
    }

    func testAgreesWithPageByPageSets() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            func randomRuns() -> [PageRange] {
                (0..<Int.random(in: 0...6, using: &rng)).map { _ in r(UInt64.random(in: 0..<40, using: &rng), UInt32.random(in: 0...6, using: &rng)) }
            }
            func pages(_ runs: [PageRange]) -> Set<UInt64> {
                Set(runs.flatMap { run in (0..<UInt64(run.pageCount)).map { run.address / 4096 + $0 } })
            }
            let a = PageRanges.normalized(randomRuns()), b = PageRanges.normalized(randomRuns())
            XCTAssertEqual(pages(PageRanges.intersection(a, b)), pages(a).intersection(pages(b)))
            XCTAssertEqual(pages(PageRanges.subtracting(a, b)), pages(a).subtracting(pages(b)))
            XCTAssertEqual(PageRanges.normalized(PageRanges.intersection(a, b)), PageRanges.intersection(a, b))
            let unsorted = randomRuns()
            XCTAssertEqual(pages(PageRanges.clipped(unsorted, to: b)), pages(unsorted).intersection(pages(b)))
        }
    }

    /// Runs as long as a run can count, and runs that wrap around the
    /// address space (damaged images), are taken without a trap.
    func testHugeAndWrappingRunsStayWithinWhatARunCounts() {
        let most = UInt64(UInt32.max) * 4096
        let a = PageRange(address: 0x1000, pageCount: .max)
        let b = PageRange(address: 0x1000 + most, pageCount: .max)
        let merged = PageRanges.normalized([b, a])
        XCTAssertEqual(PageRanges.pageCount(merged), 2 * UInt64(UInt32.max))
        XCTAssertEqual(merged.first?.address, 0x1000)
        let wrapping = PageRange(address: UInt64.max - 0xfff - 4096, pageCount: 10)
        XCTAssertEqual(PageRanges.normalized([wrapping]), [PageRange(address: UInt64.max - 0xfff - 4096, pageCount: 1)])
        XCTAssertEqual(PageRanges.runs(0x1000..<(0x1000 + 2 * most + 4096)).map(\.pageCount), [.max, .max, 1])
        XCTAssertEqual(PageRanges.intersection(merged, [PageRange(address: 0x1000 + most - 4096, pageCount: 2)]).count, 2)
    }
}
