import CSupport
import Glibc
import XCTest
@testable import Ptrace

/// Write tracking on the test's own memory: what PAGEMAP_SCAN reports as
/// unwritten after a tracker protected a mapping, and after the ways a
/// page can change behind it.
final class WriteTrackerTests: XCTestCase {
    let page = 4096

    private func mapping(pages: Int) throws -> UnsafeMutableRawPointer {
        guard let p = mmap(nil, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw SystemError("mmap")
        }
        for i in 0..<pages { (p + i * page).storeBytes(of: 1, as: UInt8.self) }
        return p
    }

    private func tracker() throws -> WriteTracker {
        let fd = cr_syscall6(Int(Syscall.userfaultfd), WriteTracker.creationFlags, 0, 0, 0, 0, 0)
        guard fd >= 0 else { throw SystemError("userfaultfd", errno: Int32(-fd)) }
        return try WriteTracker(adopting: Int32(fd), pid: getpid())
    }

    private func pagesOf(_ runs: [Range<UInt64>], base: UnsafeMutableRawPointer) -> [Range<Int>] {
        let b = UInt64(UInt(bitPattern: base))
        return runs.map { Int(($0.lowerBound - b) / 4096)..<Int(($0.upperBound - b) / 4096) }
    }

    func testWritesAfterProtectionAreReported() throws {
        let p = try mapping(pages: 16)
        defer { munmap(p, 16 * page) }
        let range = UInt64(UInt(bitPattern: p))..<(UInt64(UInt(bitPattern: p)) + UInt64(16 * page))
        let t = try tracker()
        try t.track(range)
        let pagemap = try Pagemap(pid: getpid())
        XCTAssertEqual(pagesOf(try pagemap.unwritten(in: range), base: p), [0..<16])

        (p + 3 * page).storeBytes(of: 2, as: UInt8.self)
        // Dropped: no longer present, so never taken from an older copy.
        madvise(p + 5 * page, page, MADV_DONTNEED)
        // Dropped, then read: the zero page, which is not the old content.
        madvise(p + 6 * page, page, MADV_DONTNEED)
        XCTAssertEqual((p + 6 * page).load(as: UInt8.self), 0)
        // Written by the kernel on the process's behalf.
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        XCTAssertEqual(write(fds[1], "x", 1), 1)
        XCTAssertEqual(read(fds[0], p + 9 * page, 1), 1)
        close(fds[0]); close(fds[1])
        XCTAssertEqual(pagesOf(try pagemap.unwritten(in: range), base: p), [0..<3, 4..<5, 7..<9, 10..<16])

        try t.protect(range)
        (p + 12 * page).storeBytes(of: 3, as: UInt8.self)
        XCTAssertEqual(pagesOf(try pagemap.unwritten(in: range), base: p), [0..<5, 7..<12, 13..<16],
                       "a new round starts from the second protection; dropped pages stay out")
    }

    func testMemoryNoTrackerCoversCountsAsWritten() throws {
        let p = try mapping(pages: 4)
        defer { munmap(p, 4 * page) }
        let range = UInt64(UInt(bitPattern: p))..<(UInt64(UInt(bitPattern: p)) + UInt64(4 * page))
        XCTAssertEqual(try Pagemap(pid: getpid()).unwritten(in: range), [])
        do {
            let t = try tracker()
            try t.track(range)
            XCTAssertEqual(pagesOf(try Pagemap(pid: getpid()).unwritten(in: range), base: p), [0..<4])
        }
        // The last descriptor closed, the tracking ends with it.
        XCTAssertEqual(try Pagemap(pid: getpid()).unwritten(in: range), [])
    }

    func testARangeIsOneTrackersOwn() throws {
        let p = try mapping(pages: 4)
        defer { munmap(p, 4 * page) }
        let range = UInt64(UInt(bitPattern: p))..<(UInt64(UInt(bitPattern: p)) + UInt64(4 * page))
        let first = try tracker()
        try first.track(range)
        (p + page).storeBytes(of: 2, as: UInt8.self)
        // Registering again with its own tracker leaves the marks alone.
        try first.register(range)
        XCTAssertEqual(pagesOf(try Pagemap(pid: getpid()).unwritten(in: range), base: p), [0..<1, 2..<4])
        let second = try tracker()
        XCTAssertThrowsError(try second.register(range)) { XCTAssertEqual(($0 as? SystemError)?.errno, EBUSY) }
    }
}
