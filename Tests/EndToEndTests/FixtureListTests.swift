import Foundation
import XCTest

/// Package.swift lists the fixtures by name; a folder left out of the list
/// would silently never be built.
final class FixtureListTests: XCTestCase {
    func testEveryFixtureFolderIsBuilt() throws {
        let root = BuildProducts.packageRoot + "/fixtures"
        let folders = try FileManager.default.contentsOfDirectory(atPath: root)
            .filter { FileManager.default.fileExists(atPath: "\(root)/\($0)/main.c") }
        XCTAssertFalse(folders.isEmpty)
        for name in folders {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: BuildProducts.fixture(name)),
                          "fixtures/\(name) has a main.c but fixture-\(name) was not built: add it to fixtureNames in Package.swift")
        }
    }
}
