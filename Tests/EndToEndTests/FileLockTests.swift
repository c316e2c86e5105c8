import Glibc
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

    /// A lease cannot be made again, so a process holding one is refused
    /// and carries on untouched.
    func testLeaseIsRefused() throws {
        let (fixture, _, _) = try startLockHolder(["--lease"])
        try assertDumpRefused(fixture, mentioning: ["holds a read lease (F_SETLEASE)", "/shared"])
        let last = try XCTUnwrap(fixture.numbers("child tick").last)
        try fixture.waitFor("child tick", atLeast: last + 5)
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
}
