import Glibc
import Ptrace
import XCTest

/// An image from a kernel whose vDSO has a function at another offset is
/// refused before anything is made: its programs hold pointers into the
/// vDSO, and the restore puts this kernel's where the old one was. The
/// image here is made on this host and then told its vDSO was otherwise.
final class VDSOLayoutTests: EndToEndCase {
    func testAFunctionElsewhereInTheVDSORefusesTheRestore() throws {
        let here = try XCTUnwrap(VDSOSymbols.current())
        let offset = try XCTUnwrap(here["__vdso_clock_gettime"], "\(here)")
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let image = try checkpoint(sleeper)
        let recorded = "\"__vdso_clock_gettime\" : \(offset)"
        let moved = "\"__vdso_clock_gettime\" : \(offset + 16)"
        try editManifest(image) { $0.replacingOccurrences(of: recorded, with: moved) }

        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: [
            "__vdso_clock_gettime (at 0x\(String(offset + 16, radix: 16)) there, 0x\(String(offset, radix: 16)) here)",
            "field vdsoSymbols", "pointers into the vDSO",
        ])
        try editManifest(image) { $0.replacingOccurrences(of: moved, with: recorded) }
        let mark = sleeper.lineCount
        try restore(image, as: sleeper)
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }
}
