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

    /// The folding path must give zlib's answer for every length (short
    /// input, whole 64-byte steps, every tail), start offset (unaligned
    /// loads) and running value.
    func testFoldingAgreesWithZlib() throws {
        try XCTSkipUnless(CRC32.folds, "this CPU has no carry-less multiplication")
        CRC32.withWideFolding(false) { checkFoldingAgainstZlib(path: "64-byte steps") }
    }

    /// The same for the 512-bit path, which long input takes where the CPU
    /// has it: every length past its 512-byte threshold leaves a different
    /// tail to the 64-byte steps after it.
    func testWideFoldingAgreesWithZlib() throws {
        try XCTSkipUnless(CRC32.foldsWide, "this CPU has no 512-bit carry-less multiplication (AVX-512 VPCLMULQDQ)")
        CRC32.withWideFolding(true) { checkFoldingAgainstZlib(path: "256-byte steps") }
    }

    private func checkFoldingAgainstZlib(path: String) {
        let bytes = TestData.random(70_000, seed: 21)
        var lengths = Array(0...300) + [511, 512, 513, 767, 768, 769, 4095, 4096, 4097, 65_536, 69_000]
        lengths += (0..<64).map { 1000 + $0 * 17 } + (0..<40).map { 512 + $0 * 13 }
        for length in lengths {
            for start in [0, 1, 3, 8, 15] where start + length <= bytes.count {
                for initial: UInt32 in [0, 0xFFFF_FFFF, 0x1234_5678] {
                    bytes.withUnsafeBytes { all in
                        let buffer = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                        XCTAssertEqual(CRC32.update(initial, buffer: buffer), CRC32.zlibUpdate(initial, buffer: buffer),
                                       "\(path): length \(length), offset \(start), initial \(initial)")
                    }
                }
            }
        }
    }

    func testFoldingOfAllZerosAndAllOnes() throws {
        try XCTSkipUnless(CRC32.folds, "this CPU has no carry-less multiplication")
        for wide in [false, true] {
            CRC32.withWideFolding(wide) {
                for fill: UInt8 in [0, 0xFF] {
                    let bytes = [UInt8](repeating: fill, count: 2 << 20)
                    bytes.withUnsafeBytes { buffer in
                        XCTAssertEqual(CRC32.update(0, buffer: buffer), CRC32.zlibUpdate(0, buffer: buffer), "wide \(wide), fill \(fill)")
                    }
                }
            }
        }
    }
}
