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

/// A restore crtool must refuse before it makes anything, as the check
/// must too.
extension EndToEndCase {
    /// Runs `restore -d` and `restore --check-only` (each with `options`)
    /// on `image`: both must exit 1 with every one of `texts` in the
    /// message, and leave `pid` unmade.
    func assertRestoreRefused(_ image: String, pid: pid_t, mentioning texts: [String], options: [String] = [],
                              file: StaticString = #filePath, line: UInt = #line) throws {
        for mode in ["-d", "--check-only"] {
            let refused = try crtool(["restore", "-D", image, mode] + options)
            XCTAssertEqual(refused.status, .exited(1), "\(mode): \(refused)", file: file, line: line)
            for text in texts {
                XCTAssertTrue(refused.stderr.contains(text), "\(mode): the message should say \"\(text)\": \(refused)", file: file, line: line)
            }
            XCTAssertFalse(ProcessTable.isAlive(pid), "\(mode) made pid \(pid): \(refused)", file: file, line: line)
        }
    }
}
