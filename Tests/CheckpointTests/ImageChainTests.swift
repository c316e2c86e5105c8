@testable import Checkpoint
import Codecs
import Foundation
import XCTest

/// An image made on pre-dumps takes each inherited page from the nearest
/// one that stores it, and a chain that does not hold together is refused
/// with the file and field named, before anything uses it.
final class ImageChainTests: XCTestCase {
    private var directory = ""
    private let pid: Int32 = 100
    private let started: UInt64 = 4242

    override func setUp() {
        directory = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func run(_ page: UInt64, _ count: UInt32) -> PageRange {
        PageRange(address: 0x10000 + page * 4096, pageCount: count)
    }

    /// An image of pid 100 in `name`: its own pages, its lineage, and the
    /// parent it names with that parent's manifest as it is now.
    @discardableResult
    private func image(_ name: String, preDump: Bool = true, tracksWrites: Bool = false, parent: String? = nil,
                       pages: [PageRange], inherited: [PageRange]? = nil, startTime: UInt64? = nil) throws -> String {
        let path = directory + "/" + name
        let image = try ImageDirectory.create(at: path)
        let writer = try image.pageWriter(name: PageLineage.pagesFileName(pid: pid), codec: Codec(kind: .none))
        for range in pages {
            try writer.append(PageChunk(pid: pid, ranges: [range], data: TestData.random(range.byteCount, seed: range.address)))
        }
        _ = try writer.finish()
        if let inherited {
            try image.writeJSON(PageLineage(pid: pid, startTime: startTime ?? started, inherited: inherited), to: PageLineage.fileName(pid: pid))
        }
        let parentManifest = try parent.map { try ImageDirectory.open(at: directory + "/" + $0, verifyContents: false).manifestChecksum() }
        try image.commit(Manifest(processes: [ProcessEntry(pid: pid, ppid: 1, pgid: pid, sid: pid, tids: [pid], command: "sample")],
                                  parent: parent.map { "../" + $0 }, parentManifest: parentManifest, preDump: preDump ? true : nil,
                                  tracksWrites: tracksWrites ? true : nil))
        return path
    }

    private func layers(of path: String, inherited: [PageRange]) throws -> [ImageChain.PageLayer] {
        let image = try ImageDirectory.open(at: path)
        guard let chain = try ImageChain.open(under: image.manifest, in: path, verifyContents: true) else { throw ImageError(file: path, field: "parent", reason: "none") }
        return try chain.layers(pid: pid, startTime: started, inherited: inherited, file: PageLineage.fileName(pid: pid))
    }

    private func expectImageError(_ field: String, fileEnding: String, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body()) { error in
            guard let e = error as? ImageError else { return XCTFail("not an ImageError: \(error)") }
            XCTAssertEqual(e.field, field, "\(e)")
            XCTAssertTrue(e.file.hasSuffix(fileEnding), "\(e)")
        }
    }

    func testInheritedPagesComeFromTheNearestImageStoringThem() throws {
        try image("p1", pages: [run(0, 4), run(16, 4)], inherited: [])
        try image("p2", parent: "p1", pages: [run(0, 2)], inherited: [run(2, 2), run(16, 4)])
        let dump = try image("dump", preDump: false, parent: "p2", pages: [run(40, 1)], inherited: [run(0, 4), run(16, 2)])
        let found = try layers(of: dump, inherited: [run(0, 4), run(16, 2)])
        XCTAssertEqual(found.map(\.wanted), [[run(0, 2)], [run(2, 2), run(16, 2)]])
        XCTAssertEqual(found.map { ($0.reader.path as NSString).deletingLastPathComponent.hasSuffix("p2") }, [true, false])
    }

    func testAPageNoParentStoresIsRefused() throws {
        try image("p1", pages: [run(0, 4)], inherited: [])
        let dump = try image("dump", preDump: false, parent: "p1", pages: [], inherited: [run(2, 4)])
        expectImageError("inherited", fileEnding: PageLineage.fileName(pid: pid)) {
            _ = try self.layers(of: dump, inherited: [run(2, 4)])
        }
    }

    func testAnotherProcessUnderTheSamePidIsRefused() throws {
        try image("p1", pages: [run(0, 4)], inherited: [], startTime: started + 1)
        let dump = try image("dump", preDump: false, parent: "p1", pages: [], inherited: [run(0, 4)])
        expectImageError("startTime", fileEnding: "p1/" + PageLineage.fileName(pid: pid)) {
            _ = try self.layers(of: dump, inherited: [run(0, 4)])
        }
    }

    func testAParentMadeAgainIsRefused() throws {
        try image("p1", pages: [run(0, 4)], inherited: [])
        let dump = try image("dump", preDump: false, parent: "p1", pages: [], inherited: [run(0, 4)])
        try FileManager.default.removeItem(atPath: directory + "/p1")
        try image("p1", pages: [run(0, 4), run(9, 1)], inherited: [])
        expectImageError("parentManifest", fileEnding: "manifest.json") { _ = try self.layers(of: dump, inherited: [run(0, 4)]) }
    }

    func testAParentThatTrackedNoWritesIsRefused() throws {
        try image("d1", preDump: false, pages: [run(0, 4)], inherited: [])
        let dump = try image("dump", preDump: false, parent: "d1", pages: [], inherited: [run(0, 4)])
        expectImageError("tracksWrites", fileEnding: "d1/manifest.json") { _ = try self.layers(of: dump, inherited: [run(0, 4)]) }
    }

    /// Whole dumps that tracked the tree's writes (dump --track-mem) are
    /// parents like pre-dumps, one on another and under a pre-dump.
    func testDumpsThatTrackedWritesAreParents() throws {
        try image("d1", preDump: false, tracksWrites: true, pages: [run(0, 8)], inherited: [])
        try image("d2", preDump: false, tracksWrites: true, parent: "d1", pages: [run(2, 1)], inherited: [run(0, 2), run(3, 5)])
        try image("p3", parent: "d2", pages: [run(5, 1)], inherited: [run(0, 5), run(6, 2)])
        let dump = try image("dump", preDump: false, parent: "p3", pages: [run(7, 1)], inherited: [run(0, 7)])
        let layers = try layers(of: dump, inherited: [run(0, 7)])
        XCTAssertEqual(layers.map(\.wanted), [[run(5, 1)], [run(2, 1)], [run(0, 2), run(3, 2), run(6, 1)]])
    }

    /// The base of a chain claiming pages from a parent it does not name
    /// is refused: those pages would come back as zeros.
    func testABaseThatClaimsInheritedPagesIsRefused() throws {
        try image("p1", pages: [run(0, 2)], inherited: [run(2, 2)])
        let dump = try image("dump", preDump: false, parent: "p1", pages: [], inherited: [run(0, 4)])
        expectImageError("inherited", fileEnding: "p1/lineage-\(pid).json") { _ = try self.layers(of: dump, inherited: [run(0, 4)]) }
    }

    func testParentsThatLeadBackAreRefused() throws {
        // p1 names "loop" as its parent; "loop" is made on p1.
        let p1 = directory + "/p1"
        let made = try ImageDirectory.create(at: p1)
        _ = try made.pageWriter(name: PageLineage.pagesFileName(pid: pid), codec: Codec(kind: .none)).finish()
        try made.commit(Manifest(processes: [ProcessEntry(pid: pid, ppid: 1, pgid: pid, sid: pid, tids: [pid], command: "sample")],
                                 parent: "../loop", parentManifest: FileChecksum(size: 1, crc32: 1), preDump: true))
        let loop = try image("loop", parent: "p1", pages: [], inherited: [])
        expectImageError("parent", fileEnding: "p1/manifest.json") { _ = try self.layers(of: loop, inherited: []) }
    }

    /// Damaged lineage files, resealed so that their checksums agree: each
    /// is used or refused with an ImageError, never a crash.
    func testMutatedLineagesFailCleanly() throws {
        try image("p1", pages: [run(0, 4), run(8, 4)], inherited: [])
        let dump = try image("dump", preDump: false, parent: "p1", pages: [run(20, 1)], inherited: [run(0, 4), run(8, 2)])
        let name = PageLineage.fileName(pid: pid)
        let original = try XCTUnwrap(FileManager.default.contents(atPath: dump + "/" + name))
        let manifest = try ImageDirectory.open(at: dump).manifest
        var generator = SystemRandomNumberGenerator()
        var refused = 0
        for _ in 0..<300 {
            var bytes = [UInt8](original)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: dump + "/" + name))
            var resealed = manifest
            resealed.files[name] = FileChecksum(size: UInt64(bytes.count), crc32: CRC32.checksum(bytes))
            try Data(try ManifestFile.encode(resealed)).write(to: URL(fileURLWithPath: dump + "/manifest.json"))
            do {
                let image = try ImageDirectory.open(at: dump)
                let lineage = try image.readJSON(PageLineage.self, from: name)
                _ = try ImageChain.open(under: image.manifest, in: dump, verifyContents: true)?.layers(pid: pid, startTime: lineage.startTime, inherited: lineage.inherited, file: name)
            } catch is ImageError {
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 0, "no mutation was refused")
    }
}
