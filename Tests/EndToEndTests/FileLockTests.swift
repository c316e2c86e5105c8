import Glibc
import Ptrace
import XCTest

/// File locks come back with their processes: POSIX record locks owned by
/// the restored process, an OFD lock and flocks owned by their open file
/// descriptions, each standing in the way of other openers exactly as
/// before. The fixture's child checks them every round from inside the
/// tree; this test checks them from outside, and checks that they go
/// away with the processes, so they were never crtool's.
final class FileLockTests: EndToEndCase {
    func testEveryKindOfLockIsHeldAgainAfterRestore() throws {
        let (fixture, dir, child) = try startLockHolder()
        try assertLocksHeld(in: dir, by: fixture.pid, "before the dump")

        // CRIU's flag, which crtool accepts and does not need.
        let (image, pids) = try checkpointTree(fixture, options: ["--file-locks"])
        XCTAssertEqual(pids.sorted(), [fixture.pid, child].sorted())
        try assertNoLocks(in: dir, "after the dump killed the holders")

        let mark = fixture.lineCount
        try restore(image, as: fixture, options: ["--file-locks"])
        XCTAssertTrue(ProcessTable.isAlive(child), "the child is back")
        try assertLocksHeld(in: dir, by: fixture.pid, "after the restore")
        try fixture.waitForMore("child tick", 20, after: mark)
        assertSequence(fixture, "tick", startingAt: 1)
        assertSequence(fixture, "child tick", startingAt: 1)
        assertNoFailures(fixture)

        try stopTree(fixture.pid)
        try assertNoLocks(in: dir, "after the restored processes were killed")
    }

    /// A lock another process took between the dump and the restore makes
    /// the restore fail, naming the lock and its holder, with nothing left
    /// running; once it is released the same image restores.
    func testRestoreFailsCleanlyWhileAnotherProcessHoldsALock() throws {
        let (fixture, dir, child) = try startLockHolder()
        let (image, pids) = try checkpointTree(fixture)

        let intruder = open(dir + "/records", O_RDWR | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(intruder, 0, errnoText())
        defer { close(intruder) }
        var lock = Glibc.flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 50
        lock.l_len = 10
        let taken = withUnsafeMutablePointer(to: &lock) { fcntl(intruder, F_SETLK, UnsafeMutableRawPointer($0)) }
        XCTAssertEqual(taken, 0, "taking bytes 50-59 of records: \(errnoText())")

        let refused = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(refused.succeeded, "the restore took a lock this process holds: \(refused)")
        for text in ["pid \(fixture.pid) cannot take back its write lock", "bytes 0-99", "locks/records (fd 3)", "held now by pid \(getpid())"] {
            XCTAssertTrue(refused.stderr.contains(text), "the message should say \"\(text)\": \(refused)")
        }
        XCTAssertFalse(ProcessTable.isAlive(fixture.pid), "the root runs after a failed restore")
        XCTAssertFalse(ProcessTable.isAlive(child), "the child runs after a failed restore")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
        // Killed, they wait as zombies for this process, their subreaper.
        try reapAll(pids)

        lock.l_type = Int16(F_UNLCK)
        let released = withUnsafeMutablePointer(to: &lock) { fcntl(intruder, F_SETLK, UnsafeMutableRawPointer($0)) }
        XCTAssertEqual(released, 0, errnoText())
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("child tick", 10, after: mark)
        assertNoFailures(fixture)
    }

    /// Leases come back with their holder: a write lease any opener
    /// breaks, a read lease a writer breaks, each break signalled as
    /// before (SIGIO, and for the write lease the signal F_SETSIG chose,
    /// naming its descriptor), and each let go of when the holder asks.
    func testLeasesAreHeldAgainAndBreakAsBefore() throws {
        let (fixture, dir, _) = try startLockHolder(["--lease"])
        let held = ["leased": "ACTIVE WRITE", "shared": "ACTIVE READ"]
        XCTAssertEqual(try leases(of: fixture.pid), held, "before the dump")

        let (image, _) = try checkpointTree(fixture)
        try restore(image, as: fixture)
        XCTAssertEqual(try leases(of: fixture.pid), held, "after the restore")
        XCTAssertFalse(fixture.log.lines().contains { $0.hasPrefix("lease break") },
                       "the dump or the restore broke a lease\n\(fixture.log.tail())")

        let mark = fixture.lineCount
        XCTAssertEqual(opening(dir + "/shared", O_RDONLY), 0, "a reader gets past the read lease")
        XCTAssertEqual(opening(dir + "/leased", O_RDONLY), EWOULDBLOCK, "a reader waits for the write lease")
        _ = try fixture.waitFor(line: "lease break leased", from: mark)
        XCTAssertEqual(opening(dir + "/shared", O_WRONLY), EWOULDBLOCK, "a writer waits for the read lease")
        _ = try fixture.waitFor(line: "lease break shared", from: mark)

        try fixture.signal(SIGUSR1)
        _ = try fixture.waitFor(line: "released leased ok shared ok", from: mark)
        XCTAssertEqual(try leases(of: fixture.pid), [:], "after the holder let go")
        XCTAssertEqual(opening(dir + "/leased", O_RDONLY), 0)
        XCTAssertEqual(opening(dir + "/shared", O_WRONLY), 0)
        try fixture.waitForMore("child tick", 5, after: mark)
        assertSequence(fixture, "tick", startingAt: 1)
        assertNoFailures(fixture)
    }

    /// Leases other processes were breaking at the dump: those openers go
    /// on once the dump ends the leases, and the restore gives the holder
    /// what each break leaves: the write lease broken by a reader becomes
    /// a read lease, the read lease broken by a writer is gone. The holder
    /// had its signals before the dump and lets go as it would have.
    func testLeasesBeingBrokenComeBackAsTheirBreaksLeaveThem() throws {
        let (fixture, dir, _) = try startLockHolder(["--lease"])
        let reader = try startOpener("reader", dir + "/leased", "O_RDONLY")
        _ = try fixture.waitFor(line: "lease break leased")
        let writer = try startOpener("writer", dir + "/shared", "O_WRONLY")
        _ = try fixture.waitFor(line: "lease break shared")
        XCTAssertEqual(try leases(of: fixture.pid), ["leased": "BREAKING READ", "shared": "BREAKING UNLCK"])
        XCTAssertFalse(reader.log.lines().contains("opened"), "the reader got past the write lease")

        let (image, _) = try checkpointTree(fixture)
        _ = try reader.waitFor(line: "opened")
        _ = try writer.waitFor(line: "opened")
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        XCTAssertEqual(try leases(of: fixture.pid), ["leased": "ACTIVE READ"], "after the restore")
        XCTAssertEqual(opening(dir + "/leased", O_WRONLY), EWOULDBLOCK, "a writer waits for the read lease left")
        _ = try fixture.waitFor(line: "lease break leased", from: mark)

        try fixture.signal(SIGUSR1)
        // The break had ended the read lease, as the kernel ends one it
        // waited too long on, so letting go of it finds none (EAGAIN).
        _ = try fixture.waitFor(line: "released leased ok shared \(EAGAIN)", from: mark)
        try fixture.waitForMore("child tick", 5, after: mark)
        assertNoFailures(fixture)
    }

    /// A lease the kernel will not give again (here because this process
    /// opened the file after the dump) fails the restore, naming the lease,
    /// the rule and the opener, with nothing left running; once the file
    /// is closed the same image restores.
    func testRestoreFailsCleanlyWhenALeaseCannotBeTakenBack() throws {
        let (fixture, dir, child) = try startLockHolder(["--lease"])
        let (image, pids) = try checkpointTree(fixture)
        let opener = open(dir + "/leased", O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(opener, 0, errnoText())

        let refused = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(refused.succeeded, "the restore took a write lease on a file open elsewhere: \(refused)")
        for text in ["pid \(fixture.pid) cannot take back its write lease (F_SETLEASE) on ", "/leased (fd ",
                     "a write lease needs the file open by no one else", "open now in pid \(getpid()) fd \(opener)"] {
            XCTAssertTrue(refused.stderr.contains(text), "the message should say \"\(text)\": \(refused)")
        }
        XCTAssertFalse(refused.stderr.contains("pid \(fixture.pid) fd") || refused.stderr.contains("pid \(child) fd"),
                       "the message names the tree's own copies of the leased description: \(refused)")
        XCTAssertFalse(ProcessTable.isAlive(fixture.pid), "the root runs after a failed restore")
        XCTAssertFalse(ProcessTable.isAlive(child), "the child runs after a failed restore")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
        try reapAll(pids)

        close(opener)
        try restore(image, as: fixture)
        XCTAssertEqual(try leases(of: fixture.pid), ["leased": "ACTIVE WRITE", "shared": "ACTIVE READ"])
        assertNoFailures(fixture)
    }

    // MARK: -

    private func startLockHolder(_ options: [String] = []) throws -> (Fixture, String, pid_t) {
        let dir = try scratch.newDirectory("locks")
        let fixture = try startFixture("locks", [dir] + options)
        let childLine = try XCTUnwrap(fixture.log.lines().first { $0.hasPrefix("child ") && !$0.contains("tick") })
        let child = try XCTUnwrap(pid_t(childLine.dropFirst("child ".count)))
        try fixture.waitFor("child tick", atLeast: 3)
        return (fixture, dir, child)
    }

    private func assertLocksHeld(in dir: String, by pid: pid_t, _ when: String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let records = dir + "/records"
        XCTAssertEqual(try FileLockProbe.holder(of: records, start: 0, length: 100),
                       .init(type: Int16(F_WRLCK), pid: pid, start: 0, length: 100), "POSIX write lock \(when)", file: file, line: line)
        XCTAssertEqual(try FileLockProbe.holder(of: records, start: 100, length: 50),
                       .init(type: Int16(F_WRLCK), pid: -1, start: 100, length: 50), "OFD write lock \(when)", file: file, line: line)
        XCTAssertEqual(try FileLockProbe.holder(of: records, start: 200, length: 0),
                       .init(type: Int16(F_RDLCK), pid: pid, start: 200, length: 0), "POSIX read lock \(when)", file: file, line: line)
        XCTAssertTrue(try FileLockProbe.flockWouldWait(dir + "/whole", LOCK_SH), "exclusive flock \(when)", file: file, line: line)
        XCTAssertTrue(try FileLockProbe.flockWouldWait(dir + "/shared", LOCK_EX), "shared flock \(when)", file: file, line: line)
        XCTAssertFalse(try FileLockProbe.flockWouldWait(dir + "/shared", LOCK_SH), "shared flock \(when)", file: file, line: line)
    }

    private func assertNoLocks(in dir: String, _ when: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertNil(try FileLockProbe.holder(of: dir + "/records", start: 0, length: 0), "record locks \(when)", file: file, line: line)
        XCTAssertFalse(try FileLockProbe.flockWouldWait(dir + "/whole", LOCK_EX), "flock of whole \(when)", file: file, line: line)
        XCTAssertFalse(try FileLockProbe.flockWouldWait(dir + "/shared", LOCK_EX), "flock of shared \(when)", file: file, line: line)
    }

    /// The lease each file `pid` holds open has, by file name, as fdinfo
    /// shows its state and access: "ACTIVE WRITE", "BREAKING UNLCK".
    private func leases(of pid: pid_t) throws -> [String: String] {
        var found: [String: String] = [:]
        for fd in try ProcDirectory.fileDescriptors(pid: pid) {
            guard let target = try? ProcFile.link("/proc/\(pid)/fd/\(fd)"),
                  let info = readTextFile("/proc/\(pid)/fdinfo/\(fd)") else { continue }
            for line in info.split(separator: "\n") where line.hasPrefix("lock:") {
                // "lock:\t1: LEASE  ACTIVE    READ 1234 fe:00:16220978 0 EOF"
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.count > 4, words[2] == "LEASE" else { continue }
                found[String(target.split(separator: "/").last ?? "")] = "\(words[3]) \(words[4])"
            }
        }
        return found
    }

    /// 0 when this process can open `path` at once (O_NONBLOCK: a lease in
    /// the way fails the open with EWOULDBLOCK and starts its break),
    /// otherwise the errno.
    private func opening(_ path: String, _ flags: Int32) -> Int32 {
        let fd = open(path, flags | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        close(fd)
        return 0
    }

    /// A process that opens `path` with `mode` (os.O_RDONLY, ...), waiting
    /// as long as a lease is being broken, and says "opened" once it has.
    private func startOpener(_ name: String, _ path: String, _ mode: String) throws -> Fixture {
        try startPython(name, """
            import os, sys, time
            print("ready", flush=True)
            fd = os.open(sys.argv[1], getattr(os, sys.argv[2]))
            print("opened", flush=True)
            time.sleep(600)
            """, [path, mode])
    }
}
