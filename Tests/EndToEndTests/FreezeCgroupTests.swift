import Glibc
import Ptrace
import XCTest

/// Trees in frozen cgroups (a paused container, a frozen service), and
/// `--freeze-cgroup`, which freezes the tree's cgroup while crtool seizes
/// it: under both the unified hierarchy's freezer and a version 1 one.
final class FreezeCgroupTests: EndToEndCase {
    func testADumpRefusesAProcessInAFrozenCgroupAndLeavesItWhole() throws {
        for version in [CgroupFreezer.Version.v2, .v1] {
            let (counter, freezer) = try startCounter(in: version)
            let checksum = try heapChecksum(counter)
            try freezer.freeze(within: 5)
            let dir = try scratch.newDirectory("image")
            let started = monotonicSeconds()
            let refused = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir], timeout: 30)
            XCTAssertEqual(refused.status, .exited(1), "\(version): \(refused)")
            XCTAssertLessThan(monotonicSeconds() - started, 5, "\(version): refused at once, not after waiting for a stop")
            for text in ["pid \(counter.pid) is in cgroup \(freezer.directory), which is frozen", "--freeze-cgroup \(freezer.directory)"] {
                XCTAssertTrue(refused.stderr.contains(text), "\(version): the message should say \"\(text)\": \(refused)")
            }
            XCTAssertFalse(fileExists(dir + "/manifest.json"), "\(version)")
            XCTAssertTrue(try freezer.isFrozen(), "\(version): the cgroup stays as its user left it")

            try freezer.thaw()
            let mark = counter.lineCount
            try counter.waitForMore("tick", 2, after: mark)
            try checkHeap(counter, is: checksum, from: mark)
            assertNoFailures(counter)
            try killAndReap(counter.pid)
        }
    }

    func testAFrozenCgroupIsDumpedWithFreezeCgroupAndFrozenAgain() throws {
        for version in [CgroupFreezer.Version.v2, .v1] {
            let (counter, freezer) = try startCounter(in: version)
            let checksum = try heapChecksum(counter)
            try freezer.freeze(within: 5)
            let image = try checkpoint(counter, options: ["--leave-running", "--freeze-cgroup", freezer.directory])
            XCTAssertTrue(try freezer.isFrozen(), "\(version): frozen again after the dump")
            let frozenAt = counter.lineCount
            usleep(300_000)
            XCTAssertEqual(counter.lineCount, frozenAt, "\(version): the counter ran after the dump in a cgroup its user froze")

            try freezer.thaw()
            try counter.waitForMore("tick", 2, after: frozenAt)
            let lastTick = try XCTUnwrap(counter.numbers("tick").last)
            try killAndReap(counter.pid)
            let mark = counter.lineCount
            try restore(image, as: counter)
            try counter.waitFor("tick", atLeast: 0, from: mark)
            let next = try XCTUnwrap(counter.numbers("tick", from: mark).first)
            XCTAssertLessThan(next, lastTick, "\(version): the restored counter goes on from the image, made while it was frozen")
            try checkHeap(counter, is: checksum, from: mark)
            XCTAssertEqual(try freezer.directory(of: counter.pid, mounts: MountTable.read(pid: getpid())), freezer.directory,
                           "\(version): restored into its cgroup")
            assertNoFailures(counter)
            try killAndReap(counter.pid)
        }
    }

    /// The freezer of the unified hierarchy tells of each change of its
    /// state through cgroup.events: a dump with --freeze-cgroup changes it
    /// (frozen, then thawed: inotify makes one event of the two, as nothing
    /// read between them), a dump without it would not.
    func testFreezeCgroupFreezesForTheSeizeAndThawsAfter() throws {
        let (counter, freezer) = try startCounter(in: .v2)
        let checksum = try heapChecksum(counter)
        let watch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        XCTAssertGreaterThanOrEqual(watch, 0, errnoText())
        defer { close(watch) }
        XCTAssertGreaterThanOrEqual(inotify_add_watch(watch, freezer.directory + "/cgroup.events", UInt32(IN_MODIFY)), 0, errnoText())

        let image = try checkpoint(counter, options: ["--leave-running", "--freeze-cgroup", freezer.directory])
        var events = [UInt8](repeating: 0, count: 4096)
        let n = read(watch, &events, events.count)
        XCTAssertGreaterThanOrEqual(n, MemoryLayout<inotify_event>.size, "cgroup.events changed: read \(n), \(errnoText())")
        XCTAssertFalse(try freezer.isFrozen(), "thawed after the dump")
        let mark = counter.lineCount
        try counter.waitForMore("tick", 2, after: mark)

        try killAndReap(counter.pid)
        let restoredMark = counter.lineCount
        try restore(image, as: counter)
        try counter.waitForMore("tick", 2, after: restoredMark)
        try checkHeap(counter, is: checksum, from: restoredMark)
        assertNoFailures(counter)
    }

    /// crtool killed outright in the middle of a --freeze-cgroup dump
    /// leaves the cgroup as its user had it, once crtool-guard has acted:
    /// thawed, when crtool froze it for the seize (killed while frozen);
    /// frozen, when the user had frozen it (killed once crtool had thawed
    /// it and seized the tree). The counter goes on when the cgroup is
    /// thawed, its heap whole.
    func testADumpKilledOutrightLeavesTheCgroupAsItsUserHadIt() throws {
        for version in [CgroupFreezer.Version.v2, .v1] {
            for userFroze in [false, true] {
                let what = "\(version), \(userFroze ? "frozen by its user" : "running")"
                let (counter, freezer) = try startCounter(in: version, label: userFroze ? "-frozen" : "")
                let checksum = try heapChecksum(counter)
                if userFroze { try freezer.freeze(within: 5) }
                let point = userFroze ? "state-read" : "cgroup-frozen"
                let killed = try runCommand("/usr/bin/env", ["CRTOOL_FAULT_KILL_AT=\(point)", BuildProducts.crtool, "dump",
                                                             "-t", "\(counter.pid)", "-D", try scratch.newDirectory("image"),
                                                             "--freeze-cgroup", freezer.directory],
                                            outputPrefix: scratch.newPath("crtool"), timeout: 60)
                XCTAssertEqual(killed.status, .signaled(SIGKILL), "\(what): \(killed)")
                let settled = Date().addingTimeInterval(5)
                while try freezer.isFrozen() != userFroze && Date() < settled { usleep(10_000) }
                XCTAssertEqual(try freezer.isFrozen(), userFroze, "\(what): the cgroup as its user had it")
                if userFroze {
                    usleep(200_000)
                    let frozenAt = counter.lineCount
                    usleep(300_000)
                    XCTAssertEqual(counter.lineCount, frozenAt, "\(what): the counter ran in a cgroup its user froze")
                    try freezer.thaw()
                }
                let mark = counter.lineCount
                try counter.waitForMore("tick", 2, after: mark)
                try checkHeap(counter, is: checksum, from: mark)
                assertRunningFree(counter)
                assertNoFailures(counter)
                try killAndReap(counter.pid)
            }
        }
    }

    /// Eight threads, each seized while a version 1 freezer holds them,
    /// come back each with its counter.
    func testEveryThreadSeizedInAFrozenCgroupComesBack() throws {
        let cgroup = try makeCgroup(label: "-threads") { $0.controllers.split(separator: ",").contains("freezer") }
        let threads = try startFixture("threads", under: cgroup.wrapper)
        try threads.waitFor("counts", atLeast: 1)
        let (_, mark) = try roundTrip(threads, options: ["--freeze-cgroup", cgroup.directory])
        XCTAssertEqual(try CgroupFreezer(directory: cgroup.directory).isFrozen(), false)
        XCTAssertEqual(ProcessTable.threadIds(of: threads.pid).count, 9)
        let before = try XCTUnwrap(threads.log.lines().prefix(mark).last { $0.hasPrefix("counts ") })
        let counts = { (line: String) in line.split(separator: " ").dropFirst().compactMap { Int($0) } }
        try threads.waitFor("every counter past its value at the dump", from: mark) { line in
            line.hasPrefix("counts ") && zip(counts(line), counts(before)).allSatisfy { $0 > $1 } && counts(line).count == 8
        }
        assertNoFailures(threads)
    }

    func testFreezeCgroupRefusesWhatItCannotFreezeAndTouchesNothing() throws {
        let cgroup = try makeCgroup(label: "-other") { $0.controllers.isEmpty }
        let counter = try startFixture("counter", ["--heap-mib", "4"])
        addTeardownBlock { [unowned self] in try? self.killAndReap(counter.pid) }
        try counter.waitFor("tick", atLeast: 1)
        let freezer = try CgroupFreezer(directory: cgroup.directory)
        let cases: [(String, [String])] = [
            (cgroup.directory, ["pid \(counter.pid) is not in cgroup \(freezer.directory)", "--freeze-cgroup names the cgroup the tree runs in"]),
            ("/tmp", ["--freeze-cgroup /tmp:", "find cgroup.freeze or freezer.state in /tmp"]),
        ]
        for (directory, texts) in cases {
            let dir = try scratch.newDirectory("image")
            let refused = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir, "--freeze-cgroup", directory])
            XCTAssertEqual(refused.status, .exited(1), "\(refused)")
            for text in texts { XCTAssertTrue(refused.stderr.contains(text), "the message should say \"\(text)\": \(refused)") }
            XCTAssertFalse(fileExists(dir + "/manifest.json"))
        }
        XCTAssertFalse(try freezer.isFrozen())
        assertRunningFree(counter)
        let mark = counter.lineCount
        try counter.waitForMore("tick", 2, after: mark)
    }

    // MARK: -

    /// A counter started in a new cgroup of `version`'s freezer hierarchy.
    private func startCounter(in version: CgroupFreezer.Version, label: String = "") throws -> (Fixture, CgroupFreezer) {
        let cgroup = try makeCgroup(label: "-\(version)\(label)") { m in
            version == .v2 ? m.controllers.isEmpty : m.controllers.split(separator: ",").contains("freezer")
        }
        let counter = try startFixture("counter", ["--heap-mib", "4"], under: cgroup.wrapper)
        try counter.waitFor("tick", atLeast: 1)
        let freezer = try CgroupFreezer(directory: cgroup.directory)
        XCTAssertEqual(freezer.version, version)
        return (counter, freezer)
    }
}
