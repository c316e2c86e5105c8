import Foundation
import Glibc
import XCTest

/// A restore whose PID is taken must fail before it creates anything,
/// and leave the process holding the PID alone.
final class RestoreConflictTests: EndToEndCase {
    func testRestoreWhileThePidIsTaken() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let image = try checkpoint(counter, options: ["--leave-running"])

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("\(counter.pid)"), "the message should name the PID: \(result)")

        XCTAssertEqual(liveProcessesStartedHere(), [counter.pid], "the failed restore left processes behind")
        try assertCounterCarriesOn(counter, checksum: checksum, ticks: 5)
        // A second writer to the same log would show up as repeated ticks.
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    /// The dumped process led a process group that another process, not
    /// in the image, is still in: its pid stays taken, and the restore
    /// says by whom.
    func testPidKeptByAGroupMemberOutsideTheImage() throws {
        // The leader forks a child that forks a grandchild and exits: the
        // grandchild is no descendant of the leader any more, but still in
        // its process group.
        let leader = try startPython("leader", """
            import os, time
            os.setpgid(0, 0)
            child = os.fork()
            if child == 0:
                if os.fork() == 0:
                    print("member", os.getpid(), flush=True)
                    time.sleep(600)
                os._exit(0)
            os.waitpid(child, 0)
            time.sleep(0.2)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        let member = pid_t(try leader.waitFor("member", atLeast: 1))
        let image = try checkpoint(leader)

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("the id is still the process group of pid \(member)"), "\(result)")
        XCTAssertEqual(liveProcessesStartedHere(), [member], "the failed restore left processes behind")

        try killAndReap(member)
        try restore(image, as: leader)
    }

    /// The dumped process's parent, outside the image, never reaps it: its
    /// pid stays a zombie's, and the restore names the parent whose wait
    /// is missing. Once the parent reaps it, the restore goes through; one
    /// that waited for the parent says so in its summary.
    func testPidOfAZombieNobodyReapedNamesTheParent() throws {
        let parent = try startPython("parent", """
            import os, signal, sys, time
            child = os.fork()
            if child == 0:
                n = 0
                while True:
                    n += 1
                    print("tick", n, flush=True)
                    time.sleep(0.05)
            print("child", child, flush=True)
            signal.signal(signal.SIGUSR1, lambda *_: os.waitpid(child, 0))
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        let child = pid_t(try parent.waitFor("child", atLeast: 1))
        try parent.waitFor("tick", atLeast: 3)
        let image = try scratch.newDirectory("image")
        XCTAssertTrue(try crtool(["dump", "-t", "\(child)", "-D", image]).succeeded)
        XCTAssertTrue(poll(timeout: 5, every: 0.02) { ProcessTable.stat(child)?.state == "Z" }, "the parent has not reaped its dumped child")

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("a zombie that its parent, pid \(parent.pid) (python3), has not reaped"), "\(result)")

        let parentPid = parent.pid
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { kill(parentPid, SIGUSR1) }
        let mark = parent.lineCount
        let restored = try crtool(["restore", "-D", image, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertTrue(restored.stdout.contains(" s of it waiting for the image's pids to be free)"), "\(restored)")
        try parent.waitForMore("tick", 3, after: mark)

        // Restored at once: nothing is said of waiting. The restored
        // child's parent is now this test, which reaps it.
        let again = try scratch.newDirectory("image")
        XCTAssertTrue(try crtool(["dump", "-t", "\(child)", "-D", again]).succeeded)
        XCTAssertNotNil(try waitForExit(child, timeout: 10))
        XCTAssertTrue(poll(timeout: 5, every: 0.02) { ProcessTable.isFree(child) }, "the child was reaped")
        let quick = try crtool(["restore", "-D", again, "-d"])
        XCTAssertTrue(quick.succeeded, "\(quick)")
        XCTAssertFalse(quick.stdout.contains("waiting"), "\(quick)")
    }
    /// A file the process maps that is gone by the restore fails it,
    /// named with the address it was mapped at, before any process is made;
    /// once the file is back the same image restores.
    func testAMappedFileGoneSinceTheDumpIsNamed() throws {
        let dir = try scratch.newDirectory("mapped")
        let program = try startPython("mapper", """
            import mmap, sys, time
            maps = []
            for name in ("first", "second", "third"):
                path = sys.argv[1] + "/" + name
                with open(path, "wb") as f:
                    f.write(name.encode() * 4096)
                with open(path, "rb") as f:
                    maps.append((name, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)))
            print("ready", flush=True)
            tick = 0
            while True:
                tick += 1
                bad = [name for name, m in maps if m[:len(name)] != name.encode()]
                print("tick", tick, "FAIL: %s" % bad if bad else "ok", flush=True)
                time.sleep(0.1)
            """, [dir])
        defer { try? killAndReap(program.pid) }
        try program.waitFor("tick", atLeast: 2)
        let image = try checkpoint(program)
        try waitUntilFree(program.pid)
        XCTAssertEqual(rename(dir + "/second", dir + "/second.away"), 0)

        let failed = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(failed.succeeded, "\(failed)")
        XCTAssertTrue(failed.stderr.contains("\(dir.replacingOccurrences(of: "//", with: "/"))/second (mapped by pid \(program.pid) at 0x")
                      && failed.stderr.contains("ENOENT"), "\(failed)")
        XCTAssertFalse(failed.stderr.contains("/first") || failed.stderr.contains("/third"), "only the missing file is named: \(failed)")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")

        XCTAssertEqual(rename(dir + "/second.away", dir + "/second"), 0)
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        assertNoFailures(program)
    }
}
