import Glibc
import XCTest

/// crtool keeps a descriptor per shared-memory object until every process
/// has mapped it, so a tree with many of them needs more than a shell's
/// usual soft limit: crtool raises its own limit, and when even the hard
/// limit is too low the restore stops before making any process, saying
/// what it needs.
final class OpenFileLimitTests: EndToEndCase {
    static let objects = 120

    func testRestoreRaisesItsSoftLimitForManySharedObjects() throws {
        let holder = try startSharedHolder()
        let image = try checkpoint(holder)
        let mark = holder.lineCount
        let result = try restoreUnder(limits: "ulimit -Sn 64", image: image)
        XCTAssertTrue(result.succeeded, "with a soft limit of 64 and \(Self.objects) objects: \(result)")
        try holder.waitForMore("tick", 3, after: mark)
        assertNoFailures(holder)
    }

    func testRestoreBelowItsHardLimitFailsClearlyAndMakesNothing() throws {
        let holder = try startSharedHolder()
        let image = try checkpoint(holder)
        let result = try restoreUnder(limits: "ulimit -n 64", image: image)
        let mayRaiseHardLimit = (UInt64(ProcessTable.statusField(getpid(), "CapEff") ?? "", radix: 16) ?? 0) & (1 << 24) != 0
        if mayRaiseHardLimit {
            // CAP_SYS_RESOURCE: crtool lifts its hard limit too.
            XCTAssertTrue(result.succeeded, "\(result)")
            return
        }
        XCTAssertFalse(result.succeeded, "\(result)")
        for text in ["\(Self.objects) shared-memory objects", "limit of open files is 64", "ulimit -n"] {
            XCTAssertTrue(result.stderr.contains(text), "the error should say \"\(text)\": \(result)")
        }
        XCTAssertTrue(ProcessTable.isFree(holder.pid), "a refused restore made pid \(holder.pid)")
    }

    /// A python3 process with many one-page shared anonymous mappings, each
    /// holding its own number, checked every tick.
    private func startSharedHolder() throws -> Fixture {
        let holder = try startPython("shared-holder", """
            import mmap, time
            maps = []
            for i in range(\(Self.objects)):
                m = mmap.mmap(-1, 4096)
                m[0:8] = b"%08d" % i
                maps.append(m)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                for i, m in enumerate(maps):
                    if m[0:8] != b"%08d" % i:
                        print("FAIL: mapping", i, "holds", m[0:8], flush=True)
                print("tick", n, flush=True)
                time.sleep(0.05)
            """)
        try holder.waitFor("tick", atLeast: 2)
        return holder
    }

    private func restoreUnder(limits: String, image: String) throws -> CommandResult {
        try runCommand("/bin/bash", ["-c", "\(limits) && exec \"$0\" restore -D \"$1\" -d", BuildProducts.crtool, image],
                       outputPrefix: scratch.newPath("restore"), timeout: 60)
    }
}
