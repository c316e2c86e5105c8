import Codecs
import XCTest

final class CRC32Tests: XCTestCase {
    func testKnownValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
        XCTAssertEqual(CRC32.update(0x1234_5678, []), 0x1234_5678)
    }

    func testUpdateAndCombineAgreeWithWholeChecksum() {
        let bytes = TestData.random(10000, seed: 9)
        let whole = CRC32.checksum(bytes)
        for split in [0, 1, 4096, 9999, 10000] {
            let a = Array(bytes[..<split]), b = Array(bytes[split...])
            XCTAssertEqual(CRC32.update(CRC32.checksum(a), b), whole)
            XCTAssertEqual(CRC32.combine(CRC32.checksum(a), CRC32.checksum(b), lengthB: b.count), whole)
            XCTAssertEqual(CRC32.checksum(bytes[split...]), CRC32.checksum(b))
        }
    }
}
