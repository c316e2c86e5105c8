@testable import Checkpoint
import Codecs
import Foundation
import XCTest

/// The pages of a page file are checked against the process's VMAs from
/// the chunk headers, before a restore creates anything.
final class PageLayoutCheckTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }


    /// A page file of one chunk per range, for pid 100.
    private func reader(_ ranges: [PageRange], pid: Int32 = 100) throws -> PageStreamReader {
        let path = directory + "/pages-\(ranges.count)-\(pid).img"
        let writer = try PageStreamWriter(path: path, codec: Codec(kind: .none))
        for range in ranges {
            try writer.append(PageChunk(pid: pid, ranges: [range], data: TestData.random(range.byteCount, seed: range.address)))
        }
        _ = try writer.finish()
        return try PageStreamReader(path: path)
    }

    private let vmas: [VMAImage] = [
        VMAImage(start: 0x10000, end: 0x20000, protection: "rw-p", kind: .anonymous, offset: 0, path: nil, flags: [], pagesStored: 4),
        VMAImage(start: 0x20000, end: 0x30000, protection: "r--p", kind: .anonymous, offset: 0, path: nil, flags: [], pagesStored: 0),
        VMAImage(start: 0x40000, end: 0x50000, protection: "rw-p", kind: .anonymous, offset: 0, path: nil, flags: [], pagesStored: 16),
    ]

    func testPagesInsideStoringVMAsPass() throws {
        let ranges = [PageRange(address: 0x10000, pageCount: 4), PageRange(address: 0x40000, pageCount: 16),
                      PageRange(address: 0x1f000, pageCount: 1)]
        XCTAssertNoThrow(try PageLayoutCheck.check(try reader(ranges), pid: 100, vmas: vmas))
    }

    func testPagesOutsideEveryVMAAreRefusedNamingTheChunk() throws {
        for (address, count) in [(0x8000 as UInt64, 1 as UInt32), (0x30000, 1), (0x50000, 2), (0x1f000, 2), (0x20000, 1)] {
            let ranges = [PageRange(address: 0x40000, pageCount: 1), PageRange(address: address, pageCount: count)]
            XCTAssertThrowsError(try PageLayoutCheck.check(try reader(ranges), pid: 100, vmas: vmas),
                                 "pages at 0x\(String(address, radix: 16))") { error in
                let imageError = error as? ImageError
                XCTAssertEqual(imageError?.chunk, 1, "\(error)")
                XCTAssertEqual(imageError?.field, "ranges", "\(error)")
                XCTAssertTrue("\(error)".contains("pages-2-100.img"), "\(error)")
            }
        }
    }

    func testAChunkOfAnotherProcessIsRefused() throws {
        XCTAssertThrowsError(try PageLayoutCheck.check(try reader([PageRange(address: 0x10000, pageCount: 1)], pid: 7),
                                                       pid: 100, vmas: vmas)) { error in
            XCTAssertEqual((error as? ImageError)?.field, "pid", "\(error)")
        }
    }
}
