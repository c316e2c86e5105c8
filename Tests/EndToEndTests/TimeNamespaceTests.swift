import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A program in a time namespace of its own (unshare --time) comes back
/// in a new one whose clocks carry on from where they stopped at the
/// dump, however long the image waited: fixtures/namespaces/clocks.py
/// reads them every tick, fails on a jump, and sleeps until moments of
/// them. The process that made the namespace for its child (unshare
/// --fork) stays out of it and still bears its children there.
final class TimeNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/clocks.py"
    /// How long the image waits before the restore.
    private let wait: Double = 3

    func testTheClocksOfANamespaceMadeForAChildCarryOn() throws {
        let unshare = try startProgram("unshare", "/usr/bin/unshare",
                                       ["--time", "--fork", "--monotonic", "86400", "--boottime", "3600", "python3", script],
                                       isReady: { $0 == "ready" })
        defer { try? stopTree(unshare.pid) }
        let program = try XCTUnwrap(ProcessTable.children(of: unshare.pid).first)
        XCTAssertEqual(try TimeNamespaceClocks.offsets(pid: program),
                       TimeNamespaceClocks(monotonic: 86400 * 1_000_000_000, boottime: 3600 * 1_000_000_000))

        let namespace = try assertClocksCarryOn(unshare, program: program, offsets: TimeNamespaceClocks(monotonic: 86400, boottime: 3600))
        XCTAssertEqual(try NamespaceKind.time.id(pid: unshare.pid), try NamespaceKind.time.ownID(), "unshare stays in crtool's")
        XCTAssertEqual(try NamespaceKind.time.forChildrenID(pid: unshare.pid), namespace, "unshare's children are born in the one it made")
        XCTAssertEqual(try NamespaceKind.time.forChildrenID(pid: program), namespace)
    }

    func testAProcessThatEnteredItsNamespaceComesBackInIt() throws {
        let program = try startProgram("clocks", "/usr/bin/unshare", ["--time", "--monotonic", "1000", "python3", script],
                                       isReady: { $0 == "ready" })
        defer { try? stopTree(program.pid) }
        let namespace = try assertClocksCarryOn(program, program: program.pid, offsets: TimeNamespaceClocks(monotonic: 1000, boottime: 0))
        XCTAssertEqual(try NamespaceKind.time.forChildrenID(pid: program.pid), namespace, "its children are born in it")
    }

    /// A process that forked a child in its time namespace, then made
    /// another for its next children (unshare(CLONE_NEWTIME) and its
    /// offsets, as unshare(1) does) and forked one there: each of the
    /// three comes back in the namespace it had, with the offsets it had
    /// less the wait.
    func testAProcessWithAChildInEachOfTwoTimeNamespaces() throws {
        let program = "import ctypes, os, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            + "def idle():\n    while True: time.sleep(1)\n"
            + "older = os.fork()\nif older == 0: idle()\n"
            + "assert libc.unshare(0x80) == 0, ctypes.get_errno()\n"
            + "open('/proc/self/timens_offsets', 'w').write('monotonic 5000 0\\n')\n"
            + "younger = os.fork()\nif younger == 0: idle()\n"
            + "print('ready', older, younger, flush=True)\nidle()"
        let maker = try startProgram("time-maker", "/usr/bin/unshare", ["--time", "--monotonic", "100", "python3", "-c", program],
                                     isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(maker.pid) }
        let ready = try XCTUnwrap(maker.log.lines().first { $0.hasPrefix("ready") }).split(separator: " ")
        let older = try XCTUnwrap(Int32(ready[1])), younger = try XCTUnwrap(Int32(ready[2]))
        XCTAssertEqual(try NamespaceKind.time.id(pid: older), try NamespaceKind.time.id(pid: maker.pid))
        XCTAssertEqual(try NamespaceKind.time.id(pid: younger), try NamespaceKind.time.forChildrenID(pid: maker.pid))

        let image = try checkpoint(maker)
        Thread.sleep(forTimeInterval: wait)
        try restore(image, as: maker)
        let own = try NamespaceKind.time.id(pid: maker.pid), forChildren = try NamespaceKind.time.forChildrenID(pid: maker.pid)
        XCTAssertNotEqual(own, forChildren)
        XCTAssertNotEqual(own, try NamespaceKind.time.ownID())
        XCTAssertEqual(try NamespaceKind.time.id(pid: older), own, "the older child is in its parent's namespace")
        XCTAssertEqual(try NamespaceKind.time.id(pid: younger), forChildren, "the younger in the one made for it")
        for (pid, given) in [(older, 100.0), (younger, 5000.0)] {
            let lost = given - Double(try TimeNamespaceClocks.offsets(pid: pid).monotonic) / 1e9
            XCTAssertTrue(lost >= wait && lost < wait + 60, "pid \(pid): the monotonic offset went from \(given) s to \(given - lost) s")
        }
    }

    /// A hostile or missing reading is refused by field, before anything is made.
    func testHostileClocksAreRefusedByField() throws {
        let program = try startProgram("clocks", "/usr/bin/unshare", ["--time", "--monotonic", "1000", "python3", script],
                                       isReady: { $0 == "ready" })
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let index = try XCTUnwrap(saved.firstIndex { $0.kind == .time })
        let file = NamespaceImage.listFile
        for (from, to, field, reason) in [
            ("\"monotonic\" : ", "\"monotonic\" : -", "[\(index)].clocks.monotonic", "is not a clock's reading"),
            ("\"clocks\" : ", "\"clock\" : ", "[\(index)].clocks", "a time namespace needs its clocks"),
        ] {
            try assertRestoreRefused(try editedCopy(of: image, file: file, replacing: from, with: to), pid: program.pid,
                                     mentioning: [file, field, reason])
        }
        try restoreAndWatch(image, as: program)
    }

    /// Dumps `fixture`'s tree, lets the image wait, restores it, and
    /// checks that `program` is in a time namespace of its own again whose
    /// clocks went on from the last tick before the dump by less than the
    /// wait, and which it reads through the vDSO as the kernel keeps them.
    /// `offsets` in seconds, as unshare was given them. Gives the
    /// namespace restored.
    private func assertClocksCarryOn(_ fixture: Fixture, program: Int32, offsets: TimeNamespaceClocks,
                                     file: StaticString = #filePath, line: UInt = #line) throws -> UInt64 {
        try fixture.waitFor("tick", atLeast: 3)
        let before = try NamespaceKind.time.id(pid: program)
        XCTAssertNotEqual(before, try NamespaceKind.time.ownID(), file: file, line: line)

        let image = try checkpoint(fixture)
        let lastBefore = try XCTUnwrap(ticks(fixture).last, file: file, line: line)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let clocks = try XCTUnwrap(saved.first { $0.kind == .time && $0.id == before }?.clocks, "\(saved)", file: file, line: line)
        XCTAssertEqual(Double(clocks.monotonic) / 1e9, lastBefore.monotonic, accuracy: 1, "saved as they were at the dump", file: file, line: line)
        XCTAssertEqual(Double(clocks.boottime) / 1e9, lastBefore.boottime, accuracy: 1, file: file, line: line)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("time namespace time:[\(before)] of the tree's own: clocks at the dump monotonic "), "\(shown)", file: file, line: line)

        Thread.sleep(forTimeInterval: wait)
        let mark = try restoreAndWatch(image, as: fixture, file: file, line: line)
        let after = ticks(fixture, from: mark)
        let firstAfter = try XCTUnwrap(after.first, file: file, line: line)
        XCTAssertEqual(firstAfter.n, lastBefore.n + 1, file: file, line: line)
        XCTAssertLessThan(firstAfter.monotonic - lastBefore.monotonic, wait / 2,
                          "CLOCK_MONOTONIC went on from \(lastBefore.monotonic) to \(firstAfter.monotonic) while the image waited \(wait) s", file: file, line: line)
        XCTAssertLessThan(firstAfter.boottime - lastBefore.boottime, wait / 2, file: file, line: line)

        let namespace = try NamespaceKind.time.id(pid: program)
        XCTAssertNotEqual(namespace, try NamespaceKind.time.ownID(), "in a time namespace of its own again", file: file, line: line)
        // The wait is taken off the offsets the program was started with.
        let now = try TimeNamespaceClocks.offsets(pid: program)
        for (name, given, restored) in [("monotonic", offsets.monotonic, now.monotonic), ("boottime", offsets.boottime, now.boottime)] {
            let lost = Double(given) - Double(restored) / 1e9
            XCTAssertTrue(lost >= wait && lost < wait + 60, "the \(name) offset went from \(given) s to \(Double(restored) / 1e9) s", file: file, line: line)
        }
        // What it reads is the host's clock plus those offsets.
        let latest = try XCTUnwrap(ticks(fixture).last, file: file, line: line)
        let expected = Double(try TimeNamespaceClocks.host().monotonic + now.monotonic) / 1e9
        XCTAssertEqual(latest.monotonic, expected - 0.1, accuracy: 0.5, "read through the vDSO", file: file, line: line)
        return namespace
    }

    private struct Tick { var n: Int; var monotonic: Double; var boottime: Double }

    /// "tick <n> monotonic <s> boottime <s>" lines, from line `from` on.
    private func ticks(_ fixture: Fixture, from: Int = 0) -> [Tick] {
        fixture.log.lines().dropFirst(from).compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 6, f[0] == "tick", let n = Int(f[1]), let m = Double(f[3]), let b = Double(f[5]) else { return nil }
            return Tick(n: n, monotonic: m, boottime: b)
        }
    }
}
