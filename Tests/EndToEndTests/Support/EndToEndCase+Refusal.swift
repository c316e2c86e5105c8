import XCTest

/// A dump crtool must refuse: what the message must say, and that nothing
/// was left behind or touched.
extension EndToEndCase {
    /// Dumps, expects a refusal naming the fixture's pid and an fd plus
    /// `texts`, and returns the message.
    @discardableResult
    func assertDumpRefused(_ fixture: Fixture, mentioning texts: [String],
                           file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(fixture.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)", file: file, line: line)
        for text in ["pid \(fixture.pid) fd "] + texts {
            XCTAssertTrue(result.stderr.contains(text), "the message should say \"\(text)\": \(result)", file: file, line: line)
        }
        XCTAssertFalse(fileExists(dir + "/manifest.json"), "a refused dump left a manifest", file: file, line: line)
        assertRunningFree(fixture, file: file, line: line)
        return result.stderr
    }
}
