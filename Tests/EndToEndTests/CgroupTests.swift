import Foundation
import Glibc
import Ptrace
import XCTest

/// A restored process goes back into the cgroups it was in (its limits
/// and its service manager's view go with them), before its memory is
/// made, so that memory is charged there; with --manage-cgroups none, one
/// that no longer exists is not made: the process stays in crtool's, with
/// a warning (`CgroupSettingsTests` has the other modes); one frozen here
/// refuses the restore.
final class CgroupTests: EndToEndCase {
    func testProcessReturnsToItsCgroups() throws {
        let made = try makeCgroups()
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        addTeardownBlock { [unowned self] in try? self.killAndReap(counter.pid) }
        let checksum = try heapChecksum(counter)
        for m in made { try join(counter.pid, m.directory) }
        XCTAssertEqual(try memberships(counter.pid, made), made.map(\.membership))

        let (shown, mark) = try roundTrip(counter)
        XCTAssertEqual(try memberships(counter.pid, made), made.map(\.membership), "cgroups after the restore")
        let show = try crtool(["show", shown])
        for m in made {
            XCTAssertTrue(show.stdout.contains("\(m.name):\(m.membership.path)"), "show should list \(m.name):\(m.membership.path): \(show)")
        }
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)

        // Gone by the time of the next restore, which may not make them: a
        // warning, crtool's cgroup.
        let image = try checkpoint(counter)
        for m in made { XCTAssertEqual(rmdir(m.directory), 0, "rmdir \(m.directory): \(errnoText())") }
        // The check warns of it as the restore does, before it.
        let check = try crtool(["restore", "-D", image, "--check-only", "--manage-cgroups", "none"])
        let result = try crtool(["restore", "-D", image, "-d", "--manage-cgroups", "none"])
        for run in [check, result] {
            XCTAssertTrue(run.succeeded, "\(run)")
            for m in made {
                XCTAssertTrue(run.stderr.contains("warning: pid \(counter.pid) was in \(m.name) cgroup \(m.membership.path), which does not exist here"), "\(run)")
            }
        }
        let own = try CgroupMembership.read(pid: getpid())
        XCTAssertEqual(try memberships(counter.pid, made), made.map { m in own.first { $0.controllers == m.membership.controllers }! })
        assertNoFailures(counter)
    }

    /// Pages are charged to the memory cgroup of the process they are
    /// given to and stay there when it moves: a restored process joins its
    /// cgroups before its memory is made, or its limits would not cover it.
    func testRestoredMemoryIsChargedToItsMemoryCgroup() throws {
        let cgroup = try makeCgroup(label: "-memory") { $0.controllers.split(separator: ",").contains("memory") }
        let usage = cgroup.directory + "/memory.usage_in_bytes"
        let counter = try startFixture("counter", ["--heap-mib", "64"], under: cgroup.wrapper)
        let checksum = try heapChecksum(counter)
        let heap = 64 << 20
        XCTAssertGreaterThanOrEqual(try chargedBytes(usage), heap, "the fixture's heap is charged to its cgroup")
        let image = try checkpoint(counter)
        XCTAssertTrue(poll(timeout: 5) { (try? chargedBytes(usage)).map { $0 < heap } ?? false }, "the dumped counter's memory was freed")
        let mark = counter.lineCount
        try restore(image, as: counter)
        XCTAssertGreaterThanOrEqual(try chargedBytes(usage), heap, "the restored heap is charged to the counter's cgroup")
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    func testARestoreIntoAFrozenCgroupIsRefusedBeforeAnythingIsMade() throws {
        let cgroup = try makeCgroup(label: "-frozen") { $0.controllers.isEmpty }
        let counter = try startFixture("counter", ["--heap-mib", "4"], under: cgroup.wrapper)
        let freezer = try CgroupFreezer(directory: cgroup.directory)
        let checksum = try heapChecksum(counter)
        let image = try checkpoint(counter)
        try freezer.freeze(within: 5)
        try assertRestoreRefused(image, pid: counter.pid, mentioning: [
            "pid \(counter.pid) was in cgroup \(freezer.directory), which is frozen here", "nothing was restored",
        ])
        try freezer.thaw()
        let mark = counter.lineCount
        try restore(image, as: counter)
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    /// A child forked before its parent moved into a cgroup of its own
    /// stays in crtool's: restored, it is forked from its parent, in the
    /// parent's cgroup, and must be moved back.
    func testAChildLeftInCrtoolsCgroupGoesBackThere() throws {
        let cgroup = try makeCgroup(label: "-parent") { $0.controllers.isEmpty }
        let program = """
        import os, sys, time
        if os.fork() == 0:
            n = 0
            while True:
                print(f"tick {n}", flush=True)
                n += 1
                time.sleep(0.05)
        with open(sys.argv[1] + "/cgroup.procs", "w") as f:
            f.write("0")
        os.wait()
        """
        let parent = try startProgram("forked", try BuildProducts.requirePython3(), ["-c", program, cgroup.directory], isReady: { $0.hasPrefix("tick") })
        defer { try? stopTree(parent.pid) }
        let child = try XCTUnwrap(ProcessTable.children(of: parent.pid).first)
        try parent.waitFor("tick", atLeast: 2)
        let own = try XCTUnwrap(try CgroupMembership.read(pid: getpid()).first { $0.controllers.isEmpty })
        func unified(_ pid: pid_t) throws -> CgroupMembership? { try CgroupMembership.read(pid: pid).first { $0.controllers.isEmpty } }
        XCTAssertTrue(poll(timeout: 5) { (try? unified(parent.pid)) == cgroup.membership }, "the parent moved")
        XCTAssertEqual(try unified(child), own)

        let image = try checkpoint(parent)
        try restoreAndWatch(image, as: parent)
        XCTAssertEqual(try unified(parent.pid), cgroup.membership)
        XCTAssertEqual(try unified(child), own, "the child is back in crtool's cgroup, not its parent's")
    }

    // MARK: -

    /// A new cgroup below this process's own in every hierarchy that lets
    /// root make one (not cpuset, whose new cgroups have no CPUs to join).
    private func makeCgroups() throws -> [TestCgroup] {
        let mounts = try MountTable.read(pid: getpid())
        let made = try CgroupMembership.read(pid: getpid()).filter { !$0.controllers.contains("cpuset") }
            .compactMap { makeCgroup(below: $0, mounts: mounts) }
        guard !made.isEmpty else { throw HarnessError("no cgroup hierarchy here lets root make a cgroup") }
        return made
    }

    private func memberships(_ pid: pid_t, _ made: [TestCgroup]) throws -> [CgroupMembership] {
        let all = try CgroupMembership.read(pid: pid)
        return made.map { m in all.first { $0.controllers == m.membership.controllers } ?? CgroupMembership(controllers: m.membership.controllers, path: "?") }
    }
}
