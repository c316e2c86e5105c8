@testable import Checkpoint
import XCTest

/// Lanes split the pages a restore writes evenly by address, and the
/// queues keep each worker in its own lane until that lane is empty.
final class AddressLanesTests: XCTestCase {
    private let page = UInt64(PageRange.pageSize)

    func testCutsBalancePagesAcrossRanges() {
        // 6 pages at 0x10000, 2 at 0x100000: 4 per lane, cut 4 pages in.
        let ranges = [PageRange(address: 0x100000, pageCount: 2), PageRange(address: 0x10000, pageCount: 6)]
        let lanes = AddressLanes(balancing: ranges, count: 2)
        XCTAssertEqual(lanes.cuts, [0x10000 + 4 * page])
        XCTAssertEqual(lanes.lane(of: 0x10000), 0)
        XCTAssertEqual(lanes.lane(of: 0x10000 + 3 * page), 0)
        XCTAssertEqual(lanes.lane(of: 0x10000 + 4 * page), 1)
        XCTAssertEqual(lanes.lane(of: 0x100000), 1)
    }

    func testCutFallsBetweenRangesWhenAShareEndsAtOne() {
        let ranges = [PageRange(address: 0x10000, pageCount: 2), PageRange(address: 0x80000, pageCount: 2)]
        let lanes = AddressLanes(balancing: ranges, count: 2)
        XCTAssertEqual(lanes.cuts, [0x80000])
    }

    func testFewerPagesThanLanesGiveFewerLanes() {
        let lanes = AddressLanes(balancing: [PageRange(address: 0x10000, pageCount: 1)], count: 4)
        XCTAssertEqual(lanes.count, 1)
        XCTAssertEqual(AddressLanes(balancing: [], count: 3).count, 1)
        XCTAssertEqual(AddressLanes(balancing: [PageRange(address: 0x10000, pageCount: 9)], count: 3).cuts,
                       [0x10000 + 3 * page, 0x10000 + 6 * page])
    }

    func testSplitCutsARangeAtEachCut() {
        let lanes = AddressLanes(cuts: [0x3000, 0x5000])
        let pieces = lanes.split(0x1000..<0x7000)
        XCTAssertEqual(pieces.map(\.range), [0x1000..<0x3000, 0x3000..<0x5000, 0x5000..<0x7000])
        XCTAssertEqual(pieces.map(\.lane), [0, 1, 2])
        let inside = lanes.split(0x3000..<0x4000)
        XCTAssertEqual(inside.map(\.range), [0x3000..<0x4000])
        XCTAssertEqual(inside.map(\.lane), [1])
    }

    func testWorkersKeepToTheirLaneThenTakeFromTheFullest() {
        // Items 0-3 in lane 0, items 4-5 in lane 1.
        var queues = LaneQueues(lanes: [0, 0, 0, 0, 1, 1], count: 2)
        XCTAssertEqual(queues.take(for: 0), 0)
        XCTAssertEqual(queues.take(for: 1), 4)
        XCTAssertEqual(queues.take(for: 1), 5)
        // Lane 1 is empty: worker 1 takes from the back of lane 0.
        XCTAssertEqual(queues.take(for: 1), 3)
        XCTAssertEqual(queues.take(for: 0), 1)
        XCTAssertEqual(queues.take(for: 0), 2)
        XCTAssertNil(queues.take(for: 0))
        XCTAssertNil(queues.take(for: 1))
    }

    func testEveryItemIsTakenExactlyOnce() {
        let lanes = (0..<100).map { $0 % 3 }
        var queues = LaneQueues(lanes: lanes, count: 3)
        var taken: [Int] = []
        var worker = 0
        while let item = queues.take(for: worker) {
            taken.append(item)
            worker = (worker + 1) % 5
        }
        XCTAssertEqual(taken.sorted(), Array(0..<100))
    }

    func testPartitioningIndexFindsTheFirstElementPastTheBoundary() {
        let ends: [UInt64] = [0x2000, 0x5000, 0x9000]
        XCTAssertEqual(ends.partitioningIndex { $0 > 0x1000 }, 0)
        XCTAssertEqual(ends.partitioningIndex { $0 > 0x2000 }, 1)
        XCTAssertEqual(ends.partitioningIndex { $0 > 0x8fff }, 2)
        XCTAssertEqual(ends.partitioningIndex { $0 > 0x9000 }, 3)
        XCTAssertEqual([UInt64]().partitioningIndex { $0 > 0 }, 0)
        XCTAssertEqual(ends[1...].partitioningIndex { $0 > 0 }, 1, "indices are the collection's own")
    }
}
