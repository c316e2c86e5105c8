import Foundation
import Glibc
import Ptrace
import XCTest

/// Copies into a process from a mapped file and through a userfaultfd,
/// done on this test process itself (both work on one's own pid).
final class MappedSourceTests: XCTestCase {
    let page = 4096

    /// Untouched memory, unmapped when the test ends.
    func anonymous(_ pages: Int) throws -> AnonymousMapping {
        let mapping = try AnonymousMapping(size: pages * page)
        addTeardownBlock { withExtendedLifetime(mapping) {} }
        return mapping
    }

    func address(_ mapping: AnonymousMapping) -> UInt64 { mapping.address }

    /// A temporary file holding `bytes`, open for reading and writing.
    func file(_ bytes: [UInt8]) throws -> (fd: Int32, path: String) {
        let path = NSTemporaryDirectory() + "mapped-source-\(getpid())-\(UUID().uuidString)"
        let fd = try LocalFile.open(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        addTeardownBlock { close(fd); unlink(path) }
        try LocalFile.write(fd, bytes, range: 0..<bytes.count, at: 0)
        return (fd, path)
    }

    /// Bytes that differ from page to page (a page is a multiple of 256
    /// bytes, so the page number must be in them), or a page copied from
    /// the wrong place would pass.
    func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 / page) &* 97 &+ seed) }
    }

    /// Untouched memory registered with a userfaultfd of this process.
    func registeredTarget(pages: Int) throws -> (RemoteUserfault, AnonymousMapping, Range<UInt64>) {
        let userfault = try RemoteUserfault.ofThisProcess()
        let target = try anonymous(pages)
        let range = address(target)..<(address(target) + UInt64(pages * page))
        try userfault.registerMissing(range)
        return (userfault, target, range)
    }

    /// `pattern` bytes in a file, and the file mapped.
    func mappedPattern(pages: Int, seed: Int) throws -> ([UInt8], MappedFile) {
        let bytes = pattern(pages * page, seed: seed)
        let (fd, path) = try file(bytes)
        return (bytes, try MappedFile(fd: fd, size: bytes.count, path: path))
    }

    func testWritesFromAMappedFile() throws {
        let bytes = pattern(4 * page, seed: 5)
        let (fd, path) = try file(bytes)
        let mapped = try MappedFile(fd: fd, size: bytes.count, path: path)
        let target = try anonymous(4)
        let memory = RemoteMemory(pid: getpid())
        try memory.write(.mapped(mapped, range: page..<(3 * page)),
                         pieces: [(0..<page, address(target) + UInt64(2 * page)), (page..<(2 * page), address(target))])
        XCTAssertEqual(try memory.read(at: address(target) + UInt64(2 * page), count: page), Array(bytes[page..<(2 * page)]))
        XCTAssertEqual(try memory.read(at: address(target), count: page), Array(bytes[(2 * page)..<(3 * page)]))
        XCTAssertEqual(try memory.read(at: address(target) + UInt64(page), count: page), [UInt8](repeating: 0, count: page))
    }

    /// The reason the mapping is only read by the kernel: a file cut short
    /// under it must fail the copy, not kill crtool with SIGBUS.
    func testAFileTruncatedUnderItsMappingFailsTheCopy() throws {
        let bytes = pattern(4 * page, seed: 9)
        let (fd, path) = try file(bytes)
        let mapped = try MappedFile(fd: fd, size: bytes.count, path: path)
        XCTAssertEqual(ftruncate(fd, off_t(page)), 0)
        let target = try anonymous(4)
        XCTAssertThrowsError(try RemoteMemory(pid: getpid()).write(.mapped(mapped, range: 0..<(4 * page)),
                                                                   pieces: [(0..<(4 * page), address(target))])) { error in
            XCTAssertEqual((error as? SystemError)?.errno, EFAULT, "\(error)")
        }
    }

    func testUserfaultCopyFillsMissingPagesOnly() throws {
        let (userfault, target, range) = try registeredTarget(pages: 8)
        let (bytes, mapped) = try mappedPattern(pages: 3, seed: 3)
        try userfault.copy(.array(bytes), range: 0..<(2 * page), to: address(target))
        try userfault.copy(.mapped(mapped, range: 0..<(3 * page)), range: (2 * page)..<(3 * page), to: address(target) + UInt64(5 * page))
        XCTAssertThrowsError(try userfault.copy(.array(bytes), range: 0..<page, to: address(target) + UInt64(page))) { error in
            XCTAssertEqual((error as? SystemError)?.errno, EEXIST, "a present page is never overwritten: \(error)")
        }
        try userfault.unregister(range)
        let memory = RemoteMemory(pid: getpid())
        XCTAssertEqual(try memory.read(at: address(target), count: 2 * page), Array(bytes[0..<(2 * page)]))
        XCTAssertEqual(try memory.read(at: address(target) + UInt64(5 * page), count: page), Array(bytes[(2 * page)..<(3 * page)]))
        XCTAssertEqual(try memory.read(at: address(target) + UInt64(3 * page), count: page), [UInt8](repeating: 0, count: page),
                       "after unregistering, an untouched page reads as zeros")
    }

    /// A chunk of scattered pages goes in one call: every piece lands at
    /// its own address from its own part of the source, the gaps stay
    /// missing, and a piece that meets a present page stops the call with
    /// EEXIST after the pieces before it.
    func testUserfaultCopiesScatteredPiecesInOneCall() throws {
        let (userfault, target, range) = try registeredTarget(pages: 10)
        let (bytes, mapped) = try mappedPattern(pages: 5, seed: 11)
        let source = SourceBytes.mapped(mapped, range: page..<(5 * page))
        // Source pages 0, 1-2 and 3 of the range go to pages 8, 1-2 and 5.
        try userfault.copy(source, pieces: [((3 * page)..<(4 * page), address(target) + UInt64(5 * page)),
                                             (page..<(3 * page), address(target) + UInt64(page)),
                                             (0..<page, address(target) + UInt64(8 * page))])
        XCTAssertThrowsError(try userfault.copy(.array(bytes), pieces: [(0..<page, address(target) + UInt64(9 * page)),
                                                                       (page..<(2 * page), address(target) + UInt64(2 * page)),
                                                                       ((2 * page)..<(3 * page), address(target))])) { error in
            XCTAssertEqual((error as? SystemError)?.errno, EEXIST, "page 2 is present: \(error)")
        }
        try userfault.unregister(range)
        let memory = RemoteMemory(pid: getpid())
        let zeros = [UInt8](repeating: 0, count: page)
        let expected: [Int: ArraySlice<UInt8>] = [
            1: bytes[(2 * page)..<(3 * page)], 2: bytes[(3 * page)..<(4 * page)], 5: bytes[(4 * page)..<(5 * page)],
            8: bytes[page..<(2 * page)], 9: bytes[0..<page],
        ]
        for index in 0..<10 {
            let got = try memory.read(at: address(target) + UInt64(index * page), count: page)
            XCTAssertTrue(got == expected[index].map(Array.init) ?? zeros, "page \(index) holds the wrong bytes")
        }
    }

    func testUserfaultRefusesMemoryThatIsNotRegistered() throws {
        let userfault = try RemoteUserfault.ofThisProcess()
        let target = try anonymous(2)
        XCTAssertThrowsError(try userfault.copy(.array(pattern(page, seed: 1)), range: 0..<page, to: address(target))) { error in
            XCTAssertNotNil(error as? SystemError)
            XCTAssertTrue("\(error)".contains("UFFDIO_COPY"), "\(error)")
        }
    }
}
