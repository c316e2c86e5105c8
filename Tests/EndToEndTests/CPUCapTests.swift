@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// An image made on a CPU with something this one lacks is refused before
/// anything is made, naming what is missing: its programs may have picked
/// code for an instruction set this CPU does not have, and would stop on
/// SIGILL long after the restore. --cpu-cap lets the user take the risk.
/// The image here is made on this host and then told it came from a CPU
/// with more.
final class CPUCapTests: EndToEndCase {
    func testAnInstructionSetThisCPULacksRefusesTheRestore() throws {
        let hostFlags = Set(try CPUInfo.read().flags)
        let missing = try XCTUnwrap(["amx_tile", "avx512_fp16", "sha512", "fma4", "xop", "avx512er"].first { !hostFlags.contains($0) },
                                    "every candidate flag is on this CPU: \(hostFlags.sorted())")
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let image = try checkpoint(sleeper)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("made on \(try CPUInfo.read().model) (XSAVE components"), shown.stdout)
        try editManifest(image) { $0.replacingOccurrences(of: #""flags" : ""#, with: #""flags" : "\#(missing) hypervisor_of_elsewhere "#) }

        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: [
            "the instruction set \(missing), which its programs may have chosen code for", "field cpu", "--cpu-cap none",
        ])
        // Checking the register state alone lets it through.
        let mark = sleeper.lineCount
        try restore(image, as: sleeper, options: ["--cpu-cap", "fpu"])
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    func testRegisterStateThisCPUCannotHoldRefusesTheRestore() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let image = try checkpoint(sleeper)
        let here = try CPUInfo.read().userXFeatures
        XCTAssertEqual(here & 3, 3, "x87 and SSE state: 0x\(String(here, radix: 16))")
        let apx: UInt64 = 1 << 19
        XCTAssertEqual(here & apx, 0, "this CPU has APX state")
        try editManifest(image) {
            $0.replacingOccurrences(of: #""xfeatures" : \#(here)"#, with: #""xfeatures" : \#(here | apx)"#)
        }

        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["register state APX", "field cpu"])
        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["register state APX"], options: ["--cpu-cap", "fpu"])
        let unknown = try crtool(["restore", "-D", image, "-d", "--cpu-cap", "sse"])
        XCTAssertEqual(unknown.status, .exited(64), "\(unknown)")
        XCTAssertTrue(unknown.stderr.contains("--cpu-cap takes fpu, ins"), "\(unknown)")
        // The threads never used such state, so nothing stands in the way.
        let mark = sleeper.lineCount
        try restore(image, as: sleeper, options: ["--cpu-cap", "ins"])
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    /// An image from a CPU with fewer XSAVE components (AVX, no AVX-512)
    /// holds smaller register areas than this CPU's, and the kernel takes
    /// only whole ones: the restore pads them. Made here by cutting the
    /// image's areas down to the AVX layout, with the AVX-512 state in its
    /// initial state, as such a CPU would have saved them.
    func testAnImageFromACPUWithFewerRegisterComponentsRestores() throws {
        let here = try CPUInfo.read().userXFeatures
        let avxOnly: UInt64 = 0x7, avxAreaSize = 832
        guard here & ~avxOnly != 0 else {
            throw XCTSkip("this CPU's XSAVE area is the AVX one (xfeatures 0x\(String(here, radix: 16))): no smaller area to come from")
        }
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let image = try checkpoint(sleeper)
        try editRegisterAreas(image, pid: sleeper.pid, xfeatures: avxOnly) { area in
            XCTAssertGreaterThan(area.count, avxAreaSize)
            area.removeLast(area.count - avxAreaSize)
            area[512] &= UInt8(avxOnly) // XSTATE_BV: the components in use
            area[464] = UInt8(avxOnly) // the XCR0 the kernel reports there
        }

        let mark = sleeper.lineCount
        try restore(image, as: sleeper)
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    /// With the register check off, an image whose threads hold state
    /// this CPU has no room for (here AMX tiles and APX, in areas longer
    /// than this CPU's) restores: that state is left out and named in a
    /// warning, instead of the kernel refusing the whole area.
    func testRegisterStateThisCPUCannotHoldIsLeftOutWhenAllowed() throws {
        let here = try CPUInfo.read().userXFeatures
        let amxAndAPX: UInt64 = 0b111 << 17
        guard here & amxAndAPX == 0 else {
            throw XCTSkip("this CPU holds AMX or APX state (xfeatures 0x\(String(here, radix: 16)))")
        }
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 2")
        let image = try checkpoint(sleeper)
        try editRegisterAreas(image, pid: sleeper.pid, xfeatures: here | amxAndAPX) { area in
            area += [UInt8](repeating: 0, count: 8256) // TILECFG and TILEDATA
            area[514] |= UInt8(amxAndAPX >> 16) // XSTATE_BV, bits 17-19
        }

        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: ["register state AMX TILECFG, AMX TILEDATA, APX"])
        let mark = sleeper.lineCount
        let restored = try restore(image, as: sleeper, options: ["--cpu-cap", "ins"])
        XCTAssertTrue(restored.stderr.contains("warning: register state AMX TILECFG, AMX TILEDATA, APX of thread \(sleeper.pid) is left out"), "\(restored)")
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    /// Rewrites every thread's saved register area of the image's one
    /// process, tells the manifest its CPU had `xfeatures`, and seals both.
    private func editRegisterAreas(_ image: String, pid: Int32, xfeatures: UInt64, _ edit: (inout [UInt8]) -> Void) throws {
        var manifest = try ImageDirectory.open(at: image).manifest
        let processFile = try ImageFiles(directory: image, pid: pid).processFile()
        var text = try XCTUnwrap(readTextFile(processFile))
        var edited = 0
        for match in text.matches(of: #/"extendedState" : "([A-Za-z0-9+\/=]+)"/#).reversed() {
            var area = [UInt8](try XCTUnwrap(Data(base64Encoded: String(match.1))))
            edit(&area)
            text.replaceSubrange(match.range, with: "\"extendedState\" : \"\(Data(area).base64EncodedString())\"")
            edited += 1
        }
        XCTAssertGreaterThan(edited, 0, "no register area found in \(processFile)")
        let bytes = Array(text.utf8)
        try writeWholeFile(processFile, bytes)
        manifest.cpu?.xfeatures = xfeatures
        try writeWholeFile(image + "/" + ManifestFile.name,
                           try ImageSealing.manifest(manifest, recording: (processFile as NSString).lastPathComponent, as: bytes))
    }
}
