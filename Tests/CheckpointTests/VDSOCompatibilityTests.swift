@testable import Checkpoint
import Foundation
import Ptrace
import XCTest

/// When a restore moves this kernel's vDSO where the image's was, when it
/// bridges to it instead, and what it refuses, named.
final class VDSOCompatibilityTests: XCTestCase {
    private let symbols: [String: UInt64] = ["LINUX_2.6": 0, "__vdso_clock_gettime": 0xc10, "clock_gettime": 0xc10,
                                             "__vdso_time": 0xe00, "__vdso_getcpu": 0xe40]
    private let sizes: [String: UInt64] = ["[vvar]": 0x4000, "[vvar_vclock]": 0x2000, "[vdso]": 0x2000]
    private var host: VDSOCompatibility.Host { .init(symbols: symbols, sizes: sizes) }
    private let vdsoStart: UInt64 = 0x7f00_0000_6000

    /// One process with the kernel's three mappings, the vDSO `vdsoSize`
    /// bytes, and one thread at `rip`.
    private func processes(vdsoSize: UInt64 = 0x2000, rip: UInt64 = 0x40_1000) -> [ProcessImage] {
        func vma(_ start: UInt64, _ size: UInt64, _ kind: VMAKind, _ name: String) -> VMAImage {
            VMAImage(start: start, end: start + size, protection: "r--p", kind: kind, offset: 0, path: name, flags: [], pagesStored: 0)
        }
        var process = ProcessImage.testing(pid: 40, vmas: [
            vma(vdsoStart - 0x6000, 0x4000, .vvar, "[vvar]"), vma(vdsoStart - 0x2000, 0x2000, .vvarVclock, "[vvar_vclock]"),
            vma(vdsoStart, vdsoSize, .vdso, "[vdso]"),
        ])
        var registers = Registers()
        registers.rip = rip
        process.threads = [ThreadImage(tid: 40, name: "t", registers: registers, extendedState: Data(), signalMask: 0, pendingSignals: [],
                                       robustListHead: 0, robustListLength: 0, clearChildTid: 0, alternateStack: .disabled)]
        return [process]
    }

    private func plan(_ image: [String: UInt64]?, _ processes: [ProcessImage], _ mode: VDSOBridgeMode = .auto) throws -> VDSOBridge? {
        try VDSOCompatibility.plan(Manifest(kernelRelease: "6.1.0-old", vdsoSymbols: image), processes: processes, mode: mode, host: host)
    }

    private func assertRefused(_ image: [String: UInt64], _ processes: [ProcessImage], _ mode: VDSOBridgeMode = .auto, naming parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try plan(image, processes, mode), file: file, line: line) { error in
            for part in parts { XCTAssertTrue("\(error)".contains(part), "\(part): \(error)", file: file, line: line) }
        }
    }

    func testTheSameVDSOGoesWhereTheOldOneWas() throws {
        XCTAssertNil(try plan(symbols, processes()))
        XCTAssertNil(try plan(symbols, processes(), .never))
        XCTAssertNil(try plan(["__vdso_time": 0xe00], processes()), "functions only this kernel has do not matter")
        XCTAssertNil(try plan(nil, processes()), "an image that recorded no functions takes the old way")
        XCTAssertNil(try VDSOCompatibility.plan(Manifest(vdsoSymbols: ["__vdso_time": 0xe10]), processes: processes(), mode: .auto, host: nil),
                     "a host whose vDSO cannot be read takes the old way")
    }

    func testMovedAndMissingFunctionsAreNamed() {
        let image: [String: UInt64] = ["__vdso_clock_gettime": 0xc20, "__vdso_time": 0xe00, "__vdso_getrandom": 0xf00]
        XCTAssertEqual(VDSOCompatibility.problems(image: image, host: symbols),
                       ["__vdso_clock_gettime (at 0xc20 there, 0xc10 here)", "__vdso_getrandom (at 0xf00 there, missing here)"])
    }

    func testMovedFunctionsAreBridgedOneJumpPerEntry() throws {
        let image: [String: UInt64] = ["LINUX_2.6": 0, "__vdso_clock_gettime": 0xb00, "clock_gettime": 0xb00, "__vdso_time": 0xd00]
        let bridge = try XCTUnwrap(try plan(image, processes()))
        XCTAssertEqual(bridge.jumps, [.init(from: 0xb00, to: 0xc10), .init(from: 0xd00, to: 0xe00)], "aliases share a jump; the ELF header gets none")
        XCTAssertEqual(try plan(symbols, processes(), .always)?.jumps.count, 3, "asked for, the same layout is bridged too")
    }

    func testAnotherSizeIsBridgedOrNamed() throws {
        XCTAssertNotNil(try plan(symbols, processes(vdsoSize: 0x3000)))
        assertRefused(symbols, processes(vdsoSize: 0x3000), .never, naming: ["[vdso] (12288 bytes there, 8192 bytes here)", "--vdso-bridge never"])
        // A kernel with data pages the image's lacked: its vDSO needs them, so it stays whole.
        var older = processes()
        older[0].vmas.removeAll { $0.kind == .vvarVclock }
        XCTAssertNotNil(try plan(symbols, older))
        assertRefused(symbols, older, .never, naming: ["[vvar_vclock] (none there, 8192 bytes here)"])
    }

    func testNeverRefusesAMovedFunctionNamingTheField() {
        assertRefused(["__vdso_time": 0xe10], processes(), .never, naming: [
            "a kernel (6.1.0-old)", "__vdso_time (at 0xe10 there, 0xe00 here)", "(manifest.json, field vdsoSymbols)", "pointers into the vDSO",
        ])
    }

    func testWhatCannotBeBridgedIsNamed() {
        assertRefused(["__vdso_time": 0xd00, "__vdso_getrandom": 0xf00], processes(), naming: [
            "__vdso_time (at 0xd00 there, 0xe00 here)", "cannot be bridged", "__vdso_getrandom (at 0xf00 there) is missing here",
        ])
        assertRefused(["__vdso_time": 0xd00, "__vdso_getcpu": 0xd00], processes(), naming: ["__vdso_getcpu, __vdso_time (at 0xd00 there) are different functions here"])
        assertRefused(["__vdso_time": 0xd00, "__vdso_getcpu": 0xd08], processes(), naming: ["the functions at 0xd00 and 0xd08 are too close"])
        assertRefused(["__vdso_time": 0x1ff8], processes(), naming: ["the old vDSO (8192 bytes) has no room for a jump at 0x1ff8"])
        assertRefused(["__vdso_time": .max - 4, "__vdso_getcpu": .max], processes(), naming: [
            "the functions at 0xfffffffffffffffb and 0xffffffffffffffff are too close", "no room for a jump at 0xffffffffffffffff",
        ])
        assertRefused(["__vdso_time": 0xd00], processes(rip: vdsoStart + 0xd04), naming: [
            "thread 40 of pid 40 was inside the vDSO at the dump (at 0x7f0000006d04); dump it again",
        ])
    }

    func testTheJumpsLeaveRegistersAloneAndTrapElsewhere() {
        let bridge = VDSOBridge(jumps: [.init(from: 0x10, to: 0xc10), .init(from: 0x30, to: 0xe00)])
        let code = bridge.code(size: 0x40, target: 0x7f12_3456_7000)
        XCTAssertEqual(code.count, 0x40)
        XCTAssertEqual(Array(code[0x10..<0x1e]), [0xff, 0x25, 0, 0, 0, 0, 0x10, 0x7c, 0x56, 0x34, 0x12, 0x7f, 0, 0])
        XCTAssertEqual(Array(code[0x30..<0x3e]), [0xff, 0x25, 0, 0, 0, 0, 0x00, 0x7e, 0x56, 0x34, 0x12, 0x7f, 0, 0])
        let elsewhere = Array(code[0..<0x10]) + Array(code[0x1e..<0x30]) + Array(code[0x3e...])
        XCTAssertTrue(elsewhere.allSatisfy { $0 == 0xcc }, "int3 outside the jumps")
    }
}
