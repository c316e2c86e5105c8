@testable import Ptrace
import XCTest

/// The vDSO's functions and their offsets, read from crtool's own.
final class VDSOSymbolsTests: XCTestCase {
    func testThisKernelsVDSOExportsItsClockFunctionsInsideIt() throws {
        let symbols = try XCTUnwrap(VDSOSymbols.current())
        let size = try XCTUnwrap(Maps.read(pid: getpid()).first { $0.path == "[vdso]" }?.size)
        for name in ["__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_getcpu"] {
            let offset = try XCTUnwrap(symbols[name], "\(name) in \(symbols)")
            XCTAssertLessThan(offset, size, name)
            XCTAssertGreaterThan(offset, 0, name)
        }
        XCTAssertEqual(symbols["clock_gettime"], symbols["__vdso_clock_gettime"], "the alias sits where the function does")
    }

    func testWhatIsNotAWholeELFImageGivesNothing() throws {
        XCTAssertNil(VDSOSymbols.parse([]))
        XCTAssertNil(VDSOSymbols.parse([UInt8](repeating: 0x7f, count: 4096)))
        let vdso = try XCTUnwrap(VDSOSymbols.ownImage(size: VDSOSymbols.mappingSizes()?["[vdso]"]))
        XCTAssertNotNil(VDSOSymbols.parse(vdso))
        // Cut anywhere: a parse never reads past the end.
        for length in stride(from: 0, through: vdso.count, by: 61) {
            _ = VDSOSymbols.parse(Array(vdso.prefix(length)))
        }
    }
}
