@testable import Checkpoint
import Foundation
import XCTest

/// The statistics a dump keeps beside its image: read back as written,
/// owner-only like the image, and a damaged or hostile file refused with
/// its field named.
final class DumpStatisticsTests: XCTestCase {
    private var root = ""

    override func setUp() {
        root = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    private let sample = DumpStatistics(
        operation: "dump", frozenSeconds: 0.0431, totalSeconds: 0.05, phases: [("freeze", 0.001), ("pages read", 0.02)],
        pagesStored: 16488, zeroPages: 70, pagesInherited: 0, bytesRead: 67_534_848, bytesWritten: 67_175_697, treeRanOn: false)

    func testWhatIsWrittenIsReadBackOwnerOnly() throws {
        XCTAssertNil(try DumpStatistics.read(from: root), "no statistics kept yet")
        try sample.write(to: root)
        XCTAssertEqual(try DumpStatistics.read(from: root), sample)
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/stats-dump")
        XCTAssertEqual(attributes[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root), ["stats-dump"], "no temporary file left")
    }

    func testDamagedOrHostileStatisticsNameTheirField() throws {
        let cases: [(edit: (inout [String: Any]) -> Void, field: String)] = [
            ({ $0["frozenSeconds"] = -1 }, "frozenSeconds"),
            ({ $0["totalSeconds"] = 1e300 }, "totalSeconds"),
            ({ $0["operation"] = "restore" }, "operation"),
            ({ $0["phases"] = 3 }, "phases"),
            ({ $0["phases"] = [["name": "../../etc", "seconds": 1]] }, "phases[0].name"),
            ({ $0["phases"] = [["name": "pages", "seconds": -0.5]] }, "phases[0].seconds"),
            ({ $0["phases"] = Array(repeating: ["name": "pages", "seconds": 0.1], count: 65) }, "phases"),
            ({ $0["bytesRead"] = "many" }, "bytesRead"),
            ({ $0.removeValue(forKey: "pagesStored") }, "pagesStored"),
        ]
        try sample.write(to: root)
        let good = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/stats-dump"))) as? [String: Any])
        for (edit, field) in cases {
            var object = good
            edit(&object)
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: root + "/stats-dump"))
            XCTAssertThrowsError(try DumpStatistics.read(from: root), field) { error in
                let image = error as? ImageError
                XCTAssertEqual(image?.file, "stats-dump", "\(error)")
                XCTAssertEqual(image?.field, field, "\(error)")
            }
        }
    }

    func testAnOversizedFileOrALinkIsNotRead() throws {
        try Data(repeating: 0x20, count: (64 << 10) + 1).write(to: URL(fileURLWithPath: root + "/stats-dump"))
        XCTAssertThrowsError(try DumpStatistics.read(from: root)) { error in
            XCTAssertEqual((error as? ImageError)?.field, "size", "\(error)")
        }
        try FileManager.default.removeItem(atPath: root + "/stats-dump")
        XCTAssertEqual(symlink("/etc/passwd", root + "/stats-dump"), 0)
        XCTAssertThrowsError(try DumpStatistics.read(from: root), "a link is not followed out of the image directory")
    }
}
