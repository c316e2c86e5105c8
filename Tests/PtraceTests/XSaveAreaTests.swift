@testable import Ptrace
import XCTest

/// Register areas from CPUs with other XSAVE components are made into
/// ones this CPU's kernel takes: whole, and naming only what it can hold.
final class XSaveAreaTests: XCTestCase {
    /// A standard-format area of `size` bytes whose XSTATE_BV is
    /// `components`, its other bytes counting up so that a moved byte shows.
    private func area(size: Int, components: UInt64) -> [UInt8] {
        var bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
        for i in 0..<8 { bytes[512 + i] = UInt8(truncatingIfNeeded: components >> UInt64(8 * i)) }
        return bytes
    }

    func testComponentsAreReadFromTheHeader() {
        XCTAssertEqual(XSaveArea.components(of: area(size: 832, components: 0x2e7)), 0x2e7)
        XCTAssertEqual(XSaveArea.components(of: area(size: 832, components: 1 << 63 | 3)), 1 << 63 | 3)
        XCTAssertEqual(XSaveArea.components(of: [UInt8](repeating: 0xff, count: 519)), 0, "too short for a header")
    }

    func testASmallerAreaIsPaddedWithZerosAndKeepsItsHeader() {
        let small = area(size: 832, components: 0x7)
        let fitted = XSaveArea.fitted(small, size: 2432, components: 0x2e7)
        XCTAssertEqual(fitted.count, 2432)
        XCTAssertEqual(Array(fitted.prefix(832)), small)
        XCTAssertTrue(fitted.dropFirst(832).allSatisfy { $0 == 0 })
    }

    func testALargerAreaIsCutAndWhatThisCPULacksLeavesTheHeader() {
        let large = area(size: 11008, components: 0x7_02e7) // AMX TILECFG and TILEDATA besides AVX-512 and PKRU
        let fitted = XSaveArea.fitted(large, size: 2432, components: 0x2e7)
        XCTAssertEqual(fitted.count, 2432)
        XCTAssertEqual(XSaveArea.components(of: fitted), 0x2e7)
        XCTAssertEqual(Array(fitted.prefix(512)), Array(large.prefix(512)), "the legacy area is kept")
        XCTAssertEqual(Array(fitted[520..<2432]), Array(large[520..<2432]), "every component this CPU holds is kept")
    }

    func testAnAreaThisCPUHoldsWhollyIsUnchanged() {
        let same = area(size: 2432, components: 0x2e7)
        XCTAssertEqual(XSaveArea.fitted(same, size: 2432, components: 0x2e7), same)
        XCTAssertEqual(XSaveArea.fitted(same, size: 0, components: 0), same, "a CPU that reports no size takes the area as it is")
    }

    func testThisCPUsOwnAreaRoundTrips() {
        XCTAssertGreaterThanOrEqual(XSaveArea.hostSize, 576, "x87, SSE and the header at least")
        XCTAssertEqual(XSaveArea.hostComponents & 3, 3)
        let own = area(size: XSaveArea.hostSize, components: XSaveArea.hostComponents)
        XCTAssertEqual(XSaveArea.fitted(own, size: XSaveArea.hostSize, components: XSaveArea.hostComponents), own)
    }
}
