import Ptrace
import XCTest

final class PageContentTests: XCTestCase {
    let page = PageContent.pageSize

    func testPageSize() {
        XCTAssertEqual(PageContent.pageSize, 4096)
    }

    func testZeroPages() {
        let buffer = [UInt8](repeating: 0, count: 3 * page)
        for i in 0..<3 {
            XCTAssertTrue(PageContent.isZero(buffer, page: i), "page \(i)")
        }
    }

    func testAnyNonZeroByteMakesOnlyItsPageNonZero() {
        // First, last, and word-boundary bytes of the middle page.
        for offset in [0, 1, 7, 8, 31, 32, 2048, page - 9, page - 8, page - 1] {
            var buffer = [UInt8](repeating: 0, count: 3 * page)
            buffer[page + offset] = 0x80
            XCTAssertTrue(PageContent.isZero(buffer, page: 0), "offset \(offset)")
            XCTAssertFalse(PageContent.isZero(buffer, page: 1), "offset \(offset)")
            XCTAssertTrue(PageContent.isZero(buffer, page: 2), "offset \(offset)")
        }
    }

    func testFullPage() {
        let buffer = [UInt8](repeating: 0xff, count: page)
        XCTAssertFalse(PageContent.isZero(buffer, page: 0))
    }

    func testCopy() {
        let source = (0..<100).map { UInt8($0) }
        var dest = [UInt8](repeating: 0xee, count: 20)
        PageContent.copy(source, from: 10, into: &dest, to: 5, count: 10)
        XCTAssertEqual(Array(dest[0..<5]), [UInt8](repeating: 0xee, count: 5))
        XCTAssertEqual(Array(dest[5..<15]), Array(10..<20).map { UInt8($0) })
        XCTAssertEqual(Array(dest[15...]), [UInt8](repeating: 0xee, count: 5))
    }

    func testLittleEndianBytes() {
        let bytes = [UInt8].le(UInt32(0x0403_0201), UInt32(0xddcc_bbaa))
        XCTAssertEqual(bytes, [1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd])
        XCTAssertEqual([UInt8].le(UInt64(0x0102)), [2, 1, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual([UInt8].le(Int16(-2)), [0xfe, 0xff])
        XCTAssertEqual(bytes.le(UInt32.self, at: 4), 0xddcc_bbaa)
        XCTAssertEqual(bytes.le(UInt64.self, at: 0), 0xddcc_bbaa_0403_0201)
        XCTAssertEqual(bytes.le(UInt16.self, at: 3), 0xaa04)
        XCTAssertEqual([UInt8].le(Int64(-1)).le(Int64.self, at: 0), -1)
    }
}
