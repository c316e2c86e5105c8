@testable import Checkpoint
import Ptrace
import Glibc
import XCTest

/// What a restore hands the kernel for a saved lock, and which saved
/// ranges an image may hold at all.
final class FileLockStateTests: XCTestCase {
    func testStructFlockForARangeAndForTheRestOfTheFile() {
        let range = FileLocks.flockRecord(FileLockState(kind: .posix, access: .write, start: 100, end: 149))
        XCTAssertEqual(range.count, MemoryLayout<Glibc.flock>.size)
        var expected = Glibc.flock()
        expected.l_type = Int16(F_WRLCK)
        expected.l_whence = Int16(SEEK_SET)
        expected.l_start = 100
        expected.l_len = 50
        XCTAssertEqual(range, withUnsafeBytes(of: &expected) { Array($0) })

        let toEnd = FileLocks.flockRecord(FileLockState(kind: .ofd, access: .read, start: 200, end: nil))
        expected.l_type = Int16(F_RDLCK)
        expected.l_start = 200
        expected.l_len = 0
        XCTAssertEqual(toEnd, withUnsafeBytes(of: &expected) { Array($0) })
    }

    func testRangesAnImageMayHold() {
        func lock(_ start: Int64, _ end: Int64?) -> FileLockState { FileLockState(kind: .posix, access: .read, start: start, end: end) }
        XCTAssertTrue(lock(0, nil).hasValidRange)
        XCTAssertTrue(lock(0, 0).hasValidRange)
        XCTAssertTrue(lock(5, Int64.max - 1).hasValidRange)
        XCTAssertFalse(lock(-1, nil).hasValidRange)
        XCTAssertFalse(lock(10, 9).hasValidRange)
        // Its length would not fit in off_t; the kernel shows such a lock as "EOF".
        XCTAssertFalse(lock(0, Int64.max).hasValidRange)
        XCTAssertEqual(lock(0, Int64.max - 1).length, Int64.max)
    }

    func testDescriptionsNameTheCallAndTheBytes() {
        XCTAssertEqual(FileLockState(kind: .posix, access: .write, start: 0, end: 99).description, "write lock (fcntl F_SETLK, bytes 0-99)")
        XCTAssertEqual(FileLockState(kind: .ofd, access: .read, start: 200, end: nil).description,
                       "read lock (fcntl F_OFD_SETLK, bytes 200 to the end)")
        XCTAssertEqual(FileLockState(kind: .flock, access: .read, start: 0, end: nil).description, "shared flock")
    }

    /// What the dump saves of each lease fdinfo shows: an active lease as
    /// it is, a lease being broken as what its break leaves, which is a
    /// read lease only on a read-only descriptor (the kernel gives no
    /// read lease on a file open for writing, its own descriptor included).
    func testLeasesAreSavedAsTheirBreaksLeaveThem() throws {
        func saved(_ line: String, flags: String) throws -> [FileLockState]? {
            let info = try FdInfo.parse("pos:\t0\nflags:\t\(flags)\nmnt_id:\t27\nino:\t42\nlock:\t1: \(line) 77 fe:00:42 0 EOF\n")
            return FileLocks.collect(FileProbe(pid: 77, fd: 5, link: "/srv/file", status: stat(), info: info))
        }
        let read = [FileLockState(kind: .lease, access: .read, start: 0, end: nil)]
        let write = [FileLockState(kind: .lease, access: .write, start: 0, end: nil)]
        XCTAssertEqual(try saved("LEASE  ACTIVE    READ", flags: "0100000"), read)
        XCTAssertEqual(try saved("LEASE  ACTIVE    WRITE", flags: "0100002"), write)
        XCTAssertEqual(try saved("LEASE  BREAKING  READ", flags: "0100000"), read)
        XCTAssertNil(try saved("LEASE  BREAKING  READ", flags: "0100002"), "a read lease on a writable descriptor")
        XCTAssertNil(try saved("LEASE  BREAKING  UNLCK", flags: "0100000"))
        XCTAssertEqual(try saved("FLOCK  ADVISORY  WRITE", flags: "0100002"), [FileLockState(kind: .flock, access: .write, start: 0, end: nil)])
    }
}
