import Checkpoint
import Foundation
import XCTest

/// A dump crtool must refuse: what the message must say, and that nothing
/// was left behind or touched.
extension EndToEndCase {
    /// Dumps, expects a refusal naming the fixture's pid and an fd (unless
    /// `namingAnFd` is false: the refusal is of the process as a whole)
    /// plus `texts`, and returns the message. `options`: the dump's.
    @discardableResult
    func assertDumpRefused(_ fixture: Fixture, mentioning texts: [String], namingAnFd: Bool = true, options: [String] = [],
                           file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(fixture.pid)", "-D", dir] + options)
        XCTAssertFalse(result.succeeded, "\(result)", file: file, line: line)
        for text in (namingAnFd ? ["pid \(fixture.pid) fd "] : []) + texts {
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

    /// A copy of `image` with `from` replaced by `to` in `file`, sealed
    /// again in the manifest so that only the edit is wrong.
    func editedCopy(of image: String, file: String, replacing from: String, with to: String) throws -> String {
        let copy = try scratch.newDirectory("edited")
        for name in try FileManager.default.contentsOfDirectory(atPath: image) {
            try FileManager.default.copyItem(atPath: image + "/" + name, toPath: copy + "/" + name)
        }
        let text = try XCTUnwrap(readTextFile(copy + "/" + file))
        XCTAssertTrue(text.contains(from), "\(file) holds no \(from)")
        let bytes = Array(text.replacingOccurrences(of: from, with: to).utf8)
        try writeWholeFile(copy + "/" + file, bytes)
        let manifest = try ImageDirectory.open(at: image).manifest
        try writeWholeFile(copy + "/manifest.json", try ImageSealing.manifest(manifest, recording: file, as: bytes))
        return copy
    }
}
