@testable import Checkpoint
import XCTest

/// DescriptorNumbers predicts the numbers the kernel gives new
/// descriptors, which a restore checks its queued calls against.
final class DescriptorNumbersTests: XCTestCase {
    func testNextIsTheLowestFreeNumber() {
        var numbers = DescriptorNumbers([0, 1, 3])
        XCTAssertEqual(numbers.next(), 2)
        XCTAssertEqual(numbers.next(), 4)
        numbers.free(1)
        XCTAssertEqual(numbers.next(), 1)
        XCTAssertEqual(numbers.next(), 5)
    }

    /// F_DUPFD's floor: the lowest free number at or above it, the ones
    /// below left for next().
    func testNextAtOrAboveSkipsTakenNumbersAndLeavesLowerOnes() {
        var numbers = DescriptorNumbers([0, 5, 6])
        XCTAssertEqual(numbers.next(atOrAbove: 5), 7)
        XCTAssertEqual(numbers.next(atOrAbove: 3), 3)
        XCTAssertEqual(numbers.next(), 1)
        XCTAssertTrue(numbers.holds(7))
        XCTAssertEqual(numbers.next(atOrAbove: 3), 4)
        XCTAssertEqual(numbers.next(atOrAbove: 3), 8)
    }
}
