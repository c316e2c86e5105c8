@testable import Checkpoint
import XCTest

/// Which differences between the image's vDSO and this kernel's refuse a
/// restore, and how they are named.
final class VDSOCompatibilityTests: XCTestCase {
    private let here: [String: UInt64] = ["__vdso_clock_gettime": 0xc10, "__vdso_time": 0xe00, "__vdso_getcpu": 0xe40]

    func testTheSameLayoutPassesAndExtraFunctionsHereDoNotMatter() {
        XCTAssertEqual(VDSOCompatibility.problems(image: here, host: here), [])
        XCTAssertEqual(VDSOCompatibility.problems(image: ["__vdso_time": 0xe00], host: here), [])
    }

    func testMovedAndMissingFunctionsAreNamed() {
        let image: [String: UInt64] = ["__vdso_clock_gettime": 0xc20, "__vdso_time": 0xe00, "__vdso_getrandom": 0xf00]
        XCTAssertEqual(VDSOCompatibility.problems(image: image, host: here),
                       ["__vdso_clock_gettime (at 0xc20 there, 0xc10 here)", "__vdso_getrandom (at 0xf00 there, missing here)"])
    }

    func testRequireNamesTheField() throws {
        var manifest = Manifest(kernelRelease: "6.1.0-old", vdsoSymbols: ["__vdso_time": 0xe10])
        XCTAssertThrowsError(try VDSOCompatibility.require(manifest, here: here)) { error in
            for part in ["a kernel (6.1.0-old)", "__vdso_time (at 0xe10 there, 0xe00 here)", "(manifest.json, field vdsoSymbols)"] {
                XCTAssertTrue("\(error)".contains(part), "\(part): \(error)")
            }
        }
        manifest.vdsoSymbols = nil
        XCTAssertNoThrow(try VDSOCompatibility.require(manifest, here: here), "an image that recorded none")
    }
}
