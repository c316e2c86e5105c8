@testable import Checkpoint
import XCTest

extension EndToEndCase {
    /// Rewrites an image's manifest.json by `change` and seals it again,
    /// as a dump on another host would have written it.
    func editManifest(_ image: String, file: StaticString = #filePath, line: UInt = #line, _ change: (String) -> String) throws {
        let path = image + "/" + ManifestFile.name
        let text = try XCTUnwrap(readTextFile(path), file: file, line: line)
        let changed = change(text)
        XCTAssertNotEqual(changed, text, "the edit changed nothing", file: file, line: line)
        try writeWholeFile(path, try ManifestFile.seal(Array(changed.utf8)))
    }
}
