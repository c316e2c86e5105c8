import Checkpoint
import XCTest

/// Sizes as `--ghost-limit` takes them.
final class ByteCountTests: XCTestCase {
    func testPlainNumbersAndSuffixes() {
        XCTAssertEqual(ByteCount.parse("0"), 0)
        XCTAssertEqual(ByteCount.parse("1048576"), 1 << 20)
        XCTAssertEqual(ByteCount.parse("512K"), 512 << 10)
        XCTAssertEqual(ByteCount.parse("64m"), 64 << 20)
        XCTAssertEqual(ByteCount.parse("2G"), 2 << 30)
    }

    func testAnythingElseIsRejected() {
        for text in ["", "M", "-1", "1.5M", "12T", "1 M", "0x10", "١٢", "99999999999999999999", "17179869184G"] {
            XCTAssertNil(ByteCount.parse(text), text)
        }
    }
}
