import Foundation
import Glibc
import Ptrace
import XCTest

/// RemoteMemory on this process itself: process_vm_readv/writev need no
/// stop and work on one's own pid.
final class RemoteMemoryTests: XCTestCase {
    let page = 4096

    func map(_ pages: Int, _ protection: Int32 = PROT_READ | PROT_WRITE) throws -> UnsafeMutableRawPointer {
        guard let p = mmap(nil, pages * page, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw Expectation(description: "mmap: \(String(cString: strerror(errno)))")
        }
        let size = pages * page
        addTeardownBlock { munmap(p, size) }
        return p
    }

    func address(_ p: UnsafeMutableRawPointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }

    func testReadAndWriteOwnMemory() throws {
        let p = try map(2)
        let pattern = (0..<(2 * page)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        pattern.withUnsafeBytes { _ = memcpy(p, $0.baseAddress!, $0.count) }
        let memory = RemoteMemory(pid: getpid())
        XCTAssertEqual(try memory.read(at: address(p), count: 2 * page), pattern)
        XCTAssertEqual(try memory.read(at: address(p) + 4093, count: 6), Array(pattern[4093..<4099]), "across a page boundary")
        XCTAssertEqual(try memory.read(at: address(p), count: 0), [])

        try memory.write([1, 2, 3, 4], at: address(p) + 100)
        XCTAssertEqual(p.load(fromByteOffset: 100, as: UInt32.self), 0x0403_0201)
        try memory.write([9, 9, 0xaa, 0xbb, 9], range: 2..<4, at: address(p) + 4095)
        XCTAssertEqual((p + 4095).load(as: UInt8.self), 0xaa)
        XCTAssertEqual((p + 4096).load(as: UInt8.self), 0xbb)
        XCTAssertEqual((p + 4097).load(as: UInt8.self), pattern[4097], "nothing past the range is written")
    }

    func testReadIntoABufferAtAnOffset() throws {
        let p = try map(1)
        p.storeBytes(of: 0x1122_3344_5566_7788 as UInt64, as: UInt64.self)
        var buffer = [UInt8](repeating: 0xee, count: 12)
        try RemoteMemory(pid: getpid()).read(into: &buffer, offset: 2, at: address(p), count: 8)
        XCTAssertEqual(buffer, [0xee, 0xee, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xee, 0xee])
    }

    func testUnmappedAddressFails() throws {
        let p = try map(1)
        let hole = address(p)
        XCTAssertEqual(munmap(p, page), 0)
        XCTAssertThrowsError(try RemoteMemory(pid: getpid()).read(at: hole, count: 8)) { error in
            XCTAssertTrue(error is SystemError, "\(error)")
        }
        XCTAssertThrowsError(try RemoteMemory(pid: getpid()).write([1], at: hole)) { error in
            XCTAssertTrue(error is SystemError, "\(error)")
        }
    }

    func testPartiallyReadableRangeFailsWithoutReturningHalf() throws {
        let p = try map(2)
        XCTAssertEqual(munmap(p + page, page), 0)
        XCTAssertThrowsError(try RemoteMemory(pid: getpid()).read(at: address(p) + UInt64(page) - 8, count: 16))
    }

    func testMissingProcess() throws {
        let children = makeChildren()
        let pid = try spawn("/bin/true", [], into: children)
        XCTAssertNotNil(children.waitForExit(pid, timeout: 10))
        XCTAssertThrowsError(try RemoteMemory(pid: pid).read(at: 0x10000, count: 8)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, ESRCH, "\(error)")
            XCTAssertEqual((error as? SystemError)?.pid, pid)
        }
    }

    func testConcurrentReadersShareOneInstance() throws {
        let p = try map(1)
        memset(p, 0x42, page)
        let memory = RemoteMemory(pid: getpid())
        let start = address(p)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<50 {
                XCTAssertEqual(try? memory.read(at: start, count: page), [UInt8](repeating: 0x42, count: page))
            }
        }
    }
}
