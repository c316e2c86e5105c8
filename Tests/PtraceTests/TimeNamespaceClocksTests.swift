import Ptrace
import XCTest

/// /proc/PID/timens_offsets, read and written: seconds may be negative,
/// nanoseconds never are.
final class TimeNamespaceClocksTests: XCTestCase {
    func testOffsetsParseWithNegativeSeconds() throws {
        let parsed = try TimeNamespaceClocks.parseOffsets("monotonic       -2 500000000\nboottime      86400         0\n", file: "timens_offsets")
        XCTAssertEqual(parsed, TimeNamespaceClocks(monotonic: -1_500_000_000, boottime: 86_400_000_000_000))
    }

    func testOffsetsAreWrittenAsTheyAreRead() throws {
        for clocks in [TimeNamespaceClocks(monotonic: -1_500_000_000, boottime: 7), TimeNamespaceClocks(monotonic: -3_000_000_000, boottime: 0),
                       TimeNamespaceClocks(monotonic: 999_999_999, boottime: -1)] {
            XCTAssertEqual(try TimeNamespaceClocks.parseOffsets(clocks.offsetsText, file: "timens_offsets"), clocks, clocks.offsetsText)
            for line in clocks.offsetsText.split(separator: "\n") {
                XCTAssertFalse(line.split(separator: " ")[2].hasPrefix("-"), "nanoseconds are never negative: \(line)")
            }
        }
        XCTAssertEqual(TimeNamespaceClocks(monotonic: -1_500_000_000, boottime: 0).offsetsText, "monotonic -2 500000000\nboottime 0 0\n")
    }

    func testMalformedOffsetsNameTheLine() {
        for text in ["monotonic 1\nboottime 0 0\n", "monotonic 1 1000000000\nboottime 0 0\n", "monotonic 0 0\n", "monotonic x 0\nboottime 0 0\n"] {
            XCTAssertThrowsError(try TimeNamespaceClocks.parseOffsets(text, file: "timens_offsets"), text) { error in
                XCTAssertTrue("\(error)".contains("timens_offsets"), "\(error)")
            }
        }
    }

    func testOwnOffsetsAreZero() throws {
        XCTAssertEqual(try TimeNamespaceClocks.offsets(pid: getpid()), TimeNamespaceClocks(monotonic: 0, boottime: 0))
    }
}
