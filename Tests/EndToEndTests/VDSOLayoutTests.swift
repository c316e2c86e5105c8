@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// The image's processes hold pointers into the vDSO they started with.
/// On a kernel whose vDSO differs, the restore reaches the new one through
/// a page of jumps where the old one was, refuses what no jump can carry,
/// and with --vdso-bridge never refuses the image. The images here are made
/// on this host and then told their vDSO was otherwise, or bridged on
/// request (--vdso-bridge always), since this host has one kernel.
final class VDSOLayoutTests: EndToEndCase {
    /// The image's record of `pid`, as the restore reads it.
    private func processImage(_ image: String, pid: pid_t) throws -> ProcessImage {
        let processFile = (try ImageFiles(directory: image, pid: pid).processFile() as NSString).lastPathComponent
        return try ImageDirectory.open(at: image).readJSON(ProcessImage.self, from: processFile)
    }

    func testWhatCannotBeBridgedIsRefusedBeforeAnythingIsMade() throws {
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
            "field vdsoSymbols", "pointers into the vDSO", "--vdso-bridge never",
        ], options: ["--vdso-bridge", "never"])

        // A function this kernel lacks has nowhere for its jump to go.
        let extra = "\"__vdso_from_elsewhere\" : 8000"
        try editManifest(image) { $0.replacingOccurrences(of: moved, with: recorded + ", " + extra) }
        try assertRestoreRefused(image, pid: sleeper.pid, mentioning: [
            "cannot be bridged", "__vdso_from_elsewhere (at 0x1f40 there) is missing here", "field vdsoSymbols",
        ])
        try editManifest(image) { $0.replacingOccurrences(of: ", " + extra, with: "") }
        let mark = sleeper.lineCount
        try restore(image, as: sleeper)
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    /// The sleeper reads CLOCK_MONOTONIC through glibc's pointer into the
    /// vDSO after every sleep, and fails if a sleep seems to end early.
    /// Both it and the restore run without address randomization, so the
    /// restore finds this kernel's vDSO where the image's was and moves
    /// it aside. Dumped again, the bridge is ordinary memory and comes
    /// back with the rest.
    func testTheBridgeCarriesAProgramOnAndComesBackWithIt() throws {
        let here = try XCTUnwrap(VDSOSymbols.current())
        let clock = try XCTUnwrap(here["__vdso_clock_gettime"], "\(here)")
        let sleeper = try startFixture("sleeper", under: ["/usr/bin/setarch", "-R"])
        try sleeper.waitFor(line: "woke 2")
        let image = try checkpoint(sleeper)
        let process = try processImage(image, pid: sleeper.pid)
        let old = try XCTUnwrap(process.vmas.first { $0.kind == .vdso })

        try waitUntilFree(sleeper.pid)
        let bridged = try runCommand("/usr/bin/setarch", ["-R", BuildProducts.crtool, "restore", "-D", image, "-d", "--vdso-bridge", "always"],
                                     outputPrefix: scratch.newPath("crtool-restore"), timeout: 60)
        XCTAssertTrue(bridged.succeeded, "\(bridged)")
        XCTAssertTrue(bridged.stderr.contains("reach this kernel's vDSO through jumps where the image's was"), "\(bridged)")
        let maps = try Maps.read(pid: sleeper.pid)
        let vdso = try XCTUnwrap(maps.first { $0.path == "[vdso]" })
        XCTAssertNotEqual(vdso.start, old.start)
        let bridge = try XCTUnwrap(maps.first { $0.start == old.start }, "nothing where the vDSO was")
        XCTAssertEqual(bridge.end, old.end)
        XCTAssertNil(bridge.path)
        XCTAssertTrue(bridge.read && bridge.execute && !bridge.write && !bridge.shared, "\(bridge)")
        let jump = try RemoteMemory(pid: sleeper.pid).read(at: old.start + clock, count: VDSOBridge.jumpSize)
        XCTAssertEqual(Array(jump.prefix(6)), [0xff, 0x25, 0, 0, 0, 0])
        XCTAssertEqual(jump.dropFirst(6).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }, vdso.start + clock)
        var mark = sleeper.lineCount
        try sleeper.waitForMore("woke", 2, after: mark)

        let again = try checkpoint(sleeper)
        mark = sleeper.lineCount
        let restored = try restore(again, as: sleeper)
        XCTAssertFalse(restored.stderr.contains("through jumps"), "\(restored)")
        let kept = try XCTUnwrap(try Maps.read(pid: sleeper.pid).first { $0.start == old.start }, "the bridge did not come back")
        XCTAssertTrue(kept.execute && kept.path == nil, "\(kept)")
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }

    /// A thread that reads the clock without a pause is inside the vDSO
    /// most of the time. The dump runs such a thread on until it returns
    /// to its caller, so that the image can go through the bridge to
    /// another kernel's vDSO, which the restore refuses for a thread
    /// stopped inside the old one.
    func testAThreadInsideTheVDSOIsRunOutOfItByTheDump() throws {
        let sleeper = try startFixture("sleeper", ["--clock-reader"])
        try sleeper.waitFor("woke", atLeast: 1)
        var found: String?
        for _ in 0..<40 where found == nil {
            let image = try scratch.newDirectory("image")
            let dump = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", image, "--leave-running", "-v"])
            XCTAssertTrue(dump.succeeded, "\(dump)")
            if dump.stdout.contains("was inside the vDSO; it ran") { found = image }
        }
        let image = try XCTUnwrap(found, "in 40 dumps the clock reader was never found inside the vDSO")
        let process = try processImage(image, pid: sleeper.pid)
        let vdso = try XCTUnwrap(process.vmas.first { $0.kind == .vdso })
        XCTAssertEqual(process.threads.count, 2)
        for t in process.threads {
            XCTAssertFalse((vdso.start..<vdso.end).contains(t.registers.rip), "thread \(t.tid) is at 0x\(String(t.registers.rip, radix: 16)), inside the vDSO")
        }

        try killAndReap(sleeper.pid)
        let mark = sleeper.lineCount
        let restored = try restore(image, as: sleeper, options: ["--vdso-bridge", "always"])
        XCTAssertTrue(restored.stderr.contains("reach this kernel's vDSO through jumps where the image's was"), "\(restored)")
        try sleeper.waitForMore("woke", 3, after: mark)
        let reads = sleeper.log.lines().dropFirst(mark).compactMap { line in
            line.split(separator: " ").last.flatMap { Int($0) }
        }
        XCTAssertEqual(reads.count, 3, "\(sleeper.log.tail())")
        XCTAssertEqual(reads, reads.sorted(), "\(reads)")
        XCTAssertLessThan(reads.first ?? 0, reads.last ?? 0, "the clock reader did not go on: \(reads)")
        assertNoFailures(sleeper)
    }
    /// A thread that does not leave the vDSO within the limit is left
    /// where the last step took it, and says so with nil; asked again with
    /// room enough, it steps out, and the program goes on from there.
    func testStepOutStopsAtItsLimitAndLeavesTheThreadWhereItGot() throws {
        let sleeper = try startFixture("sleeper", ["--clock-reader"])
        try sleeper.waitFor("woke", atLeast: 1)
        let pid = sleeper.pid
        let reader = try XCTUnwrap(try ProcDirectory.threads(pid: pid).first { $0 != pid }, "the clock reader's thread")
        let maps = try Maps.read(pid: pid)
        let entry = try XCTUnwrap(maps.first { $0.path == "[vdso]" })
        let vdso = entry.start..<entry.end
        let site = try SyscallSite.inVDSO(pid: pid, maps: maps)
        struct Steps { var inside: UInt64; var limited: Int?; var stopped: UInt64; var out: Int?; var left: UInt64 }
        let steps: Steps? = try TracerThread.run {
            let t = try Tracee.seize(tid: reader, pid: pid, options: [])
            defer { try? t.detach() }
            for _ in 0..<200 {
                try t.interrupt()
                guard case .eventStop = try t.waitStop() else { throw TraceError(pid: reader, "no interrupt stop") }
                let rip = try t.registers().rip
                guard vdso.contains(rip) else {
                    try t.resume()
                    usleep(1000)
                    continue
                }
                let inj = try RemoteSyscall(tracee: t, site: site)
                let limited = try inj.stepOut(of: vdso, limit: 3)
                let stopped = inj.originalRegisters.rip
                if let limited, limited < 3 {
                    // Stopped at the vDSO's last instructions: it left
                    // before the limit. Try another stop.
                    try inj.finish()
                    try t.resume()
                    continue
                }
                let out = try inj.stepOut(of: vdso, limit: 10_000)
                let left = inj.originalRegisters.rip
                try inj.finish()
                return Steps(inside: rip, limited: limited, stopped: stopped, out: out, left: left)
            }
            return nil
        }
        let s = try XCTUnwrap(steps, "in 200 stops the clock reader was never inside the vDSO")
        XCTAssertNil(s.limited, "stepped out in 3 instructions from 0x\(String(s.inside, radix: 16))")
        XCTAssertTrue(vdso.contains(s.stopped), "0x\(String(s.stopped, radix: 16)) after the limit")
        XCTAssertNotEqual(s.stopped, s.inside, "three steps did not move the thread")
        XCTAssertGreaterThan(s.out ?? 0, 0)
        XCTAssertFalse(vdso.contains(s.left), "0x\(String(s.left, radix: 16)) is still inside the vDSO")
        let mark = sleeper.lineCount
        try sleeper.waitForMore("woke", 2, after: mark)
        assertNoFailures(sleeper)
    }
}
