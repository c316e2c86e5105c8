@testable import Checkpoint
import Codecs
import Foundation
import Ptrace
import XCTest

/// A large page file is mapped once: the mapping its CRC was verified
/// through when the image was opened is the one its pages are copied out
/// of, so the kernel does not fill page tables for it a second time.
final class VerifiedMappingTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func size(of file: String) throws -> UInt64 {
        try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.uint64Value)
    }

    /// Mappings of `file` in this process.
    private func mappings(of file: String) throws -> Int {
        try Maps.read(pid: getpid()).filter { $0.path == file }.count
    }

    func testALargePageFileIsReadThroughTheMappingItWasVerifiedThrough() throws {
        let path = directory + "/large"
        // Three raw chunks of 2 MiB: a 6 MiB file.
        let fixture = try ImageFixture.make(at: path, chunkCount: 3, pagesPerChunk: 512, codec: Codec(kind: .none))
        let file = path + "/" + ImageFixture.pagesName
        XCTAssertGreaterThanOrEqual(try size(of: file), ImageVerifier.keptMappingMinimum)

        let image = try ImageDirectory.open(at: path)
        XCTAssertEqual(try mappings(of: file), 1, "the mapping the file was verified through is kept")
        let reader = try image.pageReader(name: ImageFixture.pagesName)
        for pass in 0..<2 {
            for (location, chunk) in zip(reader.chunkLocations(), fixture.chunks) {
                let (ranges, bytes) = try reader.readPages(location)
                XCTAssertEqual(ranges, chunk.ranges)
                guard case .mapped(let mapping, let range) = bytes else { return XCTFail("a raw chunk of a verified file is read from its mapping") }
                XCTAssertEqual(mapping.withGuardedBytes(range) { Array($0) }, chunk.data, "pass \(pass)")
            }
            XCTAssertEqual(try mappings(of: file), 1, "pass \(pass): no second mapping of the file")
            reader.closeFiles()
        }
    }

    func testASmallPageFileIsNotKeptMapped() throws {
        let path = directory + "/small"
        let fixture = try ImageFixture.make(at: path, codec: Codec(kind: .none))
        let file = path + "/" + ImageFixture.pagesName
        XCTAssertLessThan(try size(of: file), ImageVerifier.keptMappingMinimum)

        let image = try ImageDirectory.open(at: path)
        XCTAssertEqual(try mappings(of: file), 0)
        let reader = try image.pageReader(name: ImageFixture.pagesName)
        do {
            let (_, bytes) = try reader.readPages(try XCTUnwrap(reader.chunkLocations().first))
            guard case .mapped(let mapping, let range) = bytes else { return XCTFail("a raw chunk of a verified file is read from a mapping") }
            XCTAssertEqual(mapping.withGuardedBytes(range) { Array($0) }, fixture.chunks[0].data)
            XCTAssertEqual(try mappings(of: file), 1, "mapped when first read")
        }
        reader.closeFiles()
        XCTAssertEqual(try mappings(of: file), 0, "and let go with the files")
    }
}
