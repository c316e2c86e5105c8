import Glibc
import XCTest

/// A file deleted while open comes back with its bytes, its offset and
/// still deleted.
final class DeletedFileTests: EndToEndCase {
    func testDeletedFileKeepsItsContentAndStaysDeleted() throws {
        let dataDir = try scratch.newDirectory("data")
        let fixture = try startFixture("deleted", [dataDir])
        try fixture.waitFor("tick", atLeast: 5)
        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("tick", before: mark).last)
        try fixture.waitFor("tick", atLeast: last + 5, from: mark)
        XCTAssertEqual(fixture.numbers("tick", from: mark).first, last + 1)
        let links = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(fixture.pid)/fd")) ?? []
        let targets = links.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(fixture.pid)/fd/\($0)") }
        XCTAssertTrue(targets.contains { $0.hasSuffix("gone.dat (deleted)") }, "\(targets)")
        XCTAssertFalse(fileExists(dataDir + "/gone.dat"), "the restored file must not be left in the directory")
        try killAndReap(fixture.pid)
        assertNoFailures(fixture)
    }
}
