import Glibc
import XCTest

/// Dumps that cannot or must not happen fail with a message, leave no
/// image behind, and leave the process (if any) exactly as it was.
final class DumpRefusalTests: EndToEndCase {
    func testPidThatDoesNotExist() throws {
        let pid = ProcessTable.unusedPid()
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(pid)", "-D", dir])
        assertRefused(result, mentioning: "\(pid)", image: dir)
    }

    /// A process that has ended and waits to be reaped has nothing left
    /// to dump; it stays for its parent (this test) to reap.
    func testZombie() throws {
        let pid = try spawnProcess("/bin/true", [], stdout: scratch.newPath("true.out"), stderr: scratch.newPath("true.err"))
        defer { _ = try? waitForExit(pid, timeout: 10) }
        XCTAssertTrue(poll(timeout: 10) { ProcessTable.stat(pid)?.state == "Z" })
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(pid)", "-D", dir])
        assertRefused(result, mentioning: "PID \(pid) (true) is a zombie; there is nothing left to dump", image: dir)
        XCTAssertEqual(ProcessTable.stat(pid)?.state, "Z", "the zombie was reaped or touched")
    }

    func testKernelThread() throws {
        guard let pid = ProcessTable.kernelThread() else {
            throw XCTSkip("no kernel thread visible in this PID namespace")
        }
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(pid)", "-D", dir])
        assertRefused(result, mentioning: "\(pid)", image: dir)
        XCTAssertEqual(ProcessTable.tracer(of: pid), 0)
    }

    /// The test process is crtool's parent: seizing it would deadlock the
    /// two (and dumping it would kill the test).
    func testOwnParent() throws {
        let me = getpid()
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(me)", "-D", dir, "--leave-running"])
        assertRefused(result, mentioning: "\(me)", image: dir)
        XCTAssertEqual(ProcessTable.tracer(of: me), 0)
    }

    /// The test process is crtool's grandparent, a shell between them: its
    /// tree holds crtool, which says so, names the line of processes down
    /// to itself, and touches nothing.
    func testAncestorOfCrtool() throws {
        let me = getpid()
        let dir = try scratch.newDirectory("image")
        let command = "'\(BuildProducts.crtool)' dump -t \(me) -D '\(dir)' --leave-running; exit $?"
        let result = try runCommand("/bin/sh", ["-c", command], outputPrefix: scratch.newPath("sh-crtool"), timeout: 60)
        assertRefused(result, mentioning: "PID \(me) (", image: dir)
        XCTAssertTrue(result.stderr.contains("is an ancestor of crtool ("), result.stderr)
        XCTAssertTrue(result.stderr.contains(" \(me) > sh "), "the line of processes down to crtool: \(result.stderr)")
        XCTAssertEqual(ProcessTable.tracer(of: me), 0)
    }

    /// A process a debugger holds cannot be frozen (a thread has one
    /// tracer): the message names the tracer, and once it lets go the
    /// process runs on untouched. The tracer is python3 seizing it.
    func testProcessTracedByAnotherTracer() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        let seize = """
            import ctypes, sys, time
            if ctypes.CDLL(None, use_errno=True).ptrace(0x4206, int(sys.argv[1]), 0, 0) != 0:
                print("FAIL: PTRACE_SEIZE", ctypes.get_errno(), flush=True)
                sys.exit(1)
            print("ready", flush=True)
            time.sleep(600)
            """
        let tracer = try startPython("tracer", seize, ["\(sleeper.pid)"])
        XCTAssertEqual(ProcessTable.tracer(of: sleeper.pid), tracer.pid)

        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(sleeper.pid)", "-D", dir])
        assertRefused(result, mentioning: "is traced by pid \(tracer.pid) (python3)", image: dir)
        XCTAssertEqual(ProcessTable.tracer(of: sleeper.pid), tracer.pid, "crtool must leave the tracer in place")

        try killAndReap(tracer.pid)
        XCTAssertTrue(poll(timeout: 5) { ProcessTable.tracer(of: sleeper.pid) == 0 })
        assertRunningFree(sleeper)
        let last = try XCTUnwrap(sleeper.numbers("woke").last)
        try sleeper.waitFor(line: "woke \(last + 2)")
        assertNoFailures(sleeper)
    }

    /// A codec or a timeout crtool cannot use is refused by dump and
    /// pre-dump alike, naming the option, before the tree is touched.
    func testBadCodecOrTimeoutIsRefusedBeforeAnythingIsTouched() throws {
        let sleeper = try startFixture("sleeper")
        try sleeper.waitFor(line: "woke 1")
        for command in ["dump", "pre-dump"] {
            for (options, named) in [(["--compress", "lz4"], "--compress"), (["--compress", "zstd:99"], "--compress"),
                                     (["--timeout", "0"], "--timeout"), (["--timeout", "-1"], "--timeout")] {
                let dir = scratch.newPath("image")
                let result = try crtool([command, "-t", "\(sleeper.pid)", "-D", dir] + options)
                XCTAssertEqual(result.status, .exited(64), "a usage error: \(command) \(options): \(result)")
                XCTAssertTrue(result.stderr.contains(named), "\(command) \(options) should name \(named): \(result)")
                XCTAssertFalse(fileExists(dir), "\(command) \(options) made the image directory")
            }
        }
        XCTAssertEqual(ProcessTable.tracer(of: sleeper.pid), 0)
        let last = try XCTUnwrap(sleeper.numbers("woke").last)
        try sleeper.waitFor(line: "woke \(last + 2)")
        assertNoFailures(sleeper)
    }

    /// The image path's parent is a regular file, which fails for root too.
    func testUnwritableImageDirectoryLeavesTheProcessRunning() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let blocker = scratch.newPath("blocker")
        try writeWholeFile(blocker, Array("not a directory\n".utf8))
        let dir = blocker + "/image"

        let result = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("blocker"), "the message should name the path: \(result)")

        try assertCounterCarriesOn(counter, checksum: checksum, ticks: 5)
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    /// The disk fills half way through the pages (a 2 MiB tmpfs under a
    /// 16 MiB heap of random data): the dump fails naming the path and
    /// ENOSPC, removes what it wrote, and the process runs on as it was,
    /// whether the dump was to kill it or to leave it running.
    func testFullDiskLeavesTheProcessRunningAndNoImage() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let disk = try scratch.newDirectory("small-disk")
        let mounted = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk],
                                     outputPrefix: scratch.newPath("mount"), timeout: 30)
        XCTAssertTrue(mounted.succeeded, "\(mounted)")
        defer { _ = try? runCommand("/bin/umount", [disk], outputPrefix: scratch.newPath("umount"), timeout: 30) }

        for options in [[], ["--leave-running"]] {
            let dir = disk + "/image"
            let result = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir] + options)
            XCTAssertFalse(result.succeeded, "\(options): \(result)")
            XCTAssertTrue(result.stderr.contains(dir) && result.stderr.contains("ENOSPC"), "\(options): the message should name the path and ENOSPC: \(result)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk).filter { $0 != "image" }, [], "\(options)")
            XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [], [], "\(options): the partial image is removed")

            try assertCounterCarriesOn(counter, checksum: checksum, ticks: 3)
        }
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    /// The last step fails: the manifest cannot be written (a directory
    /// sits where its temporary file goes). Until that step a dump that
    /// kills the tree holds it as it reads it, scratch page lent and
    /// leader's registers set for calls; the failure gives both back and
    /// lets the process run on with the mappings it had.
    func testFailedCommitLeavesTheProcessAsItWas() throws {
        let counter = try startFixture("counter", ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)
        let mapsBefore = readTextFile("/proc/\(counter.pid)/maps")
        let dir = try scratch.newDirectory("image")
        let blocker = dir + "/.manifest.json.tmp"
        XCTAssertEqual(mkdir(blocker, 0o700), 0)

        let result = try crtool(["dump", "-t", "\(counter.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains(".manifest.json.tmp"), "the message should name the file: \(result)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [".manifest.json.tmp"], "the partial image is removed")
        XCTAssertEqual(ProcessTable.tracer(of: counter.pid), 0)
        let mapsAfter = readTextFile("/proc/\(counter.pid)/maps")
        XCTAssertTrue(mapsAfter == mapsBefore, "the scratch page goes back; mappings changed: "
            + "\(Set((mapsAfter ?? "").split(separator: "\n")).symmetricDifference((mapsBefore ?? "").split(separator: "\n")))")

        try assertCounterCarriesOn(counter, checksum: checksum, ticks: 3)
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    /// A thread running 32-bit code would die of the first injected
    /// 64-bit system call (SIGILL): refused before anything is injected,
    /// and the process spins on, untraced.
    func testThreadRunning32BitCodeIsRefusedUntouched() throws {
        let compat = try startFixture("compat")
        XCTAssertTrue(poll(timeout: 5, every: 0.02) { readTextFile("/proc/\(compat.pid)/syscall")?.hasPrefix("running") ?? false })
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(compat.pid)", "-D", dir])
        assertRefused(result, mentioning: "pid \(compat.pid) thread \(compat.pid) runs 32-bit code", image: dir)
        sleepSeconds(0.2)
        XCTAssertEqual(ProcessTable.stat(compat.pid)?.state, "R", "still spinning")
        XCTAssertEqual(ProcessTable.tracer(of: compat.pid), 0)
        assertNoFailures(compat)
    }

    /// A process whose main thread ended with pthread_exit runs on in its
    /// other threads, its leader a zombie. It cannot be restored without
    /// its main thread, so the dump says so (after giving the leader a
    /// moment, since a thread that execs leaves it a zombie that long)
    /// and lets it go untouched.
    func testProcessWhoseMainThreadEndedIsRefusedUntouched() throws {
        let process = try startFixture("cloner", ["--main-exits"])
        try process.waitFor("tick", atLeast: 2)
        XCTAssertEqual(ProcessTable.stat(process.pid)?.state, "Z", "the leader has ended")
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(process.pid)", "-D", dir])
        assertRefused(result, mentioning: "the main thread of pid \(process.pid) has ended while other threads", image: dir)
        for tid in ProcessTable.threadIds(of: process.pid) {
            XCTAssertEqual(ProcessTable.statusField(tid, "TracerPid"), "0", "thread \(tid) is let go")
        }
        let mark = process.lineCount
        try process.waitForMore("tick", 3, after: mark)
        assertNoFailures(process)
    }

    private func assertRefused(
        _ result: CommandResult, mentioning text: String, image dir: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertFalse(result.succeeded, "\(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(text), "the message should mention \(text): \(result)",
                      file: file, line: line)
        XCTAssertFalse(fileExists(dir + "/manifest.json"),
                       "a refused dump left a manifest", file: file, line: line)
    }
}
