import Foundation
import Glibc

/// One private temporary directory per test for logs, images and fixture
/// data, removed after the test's processes are gone.
final class ScratchDirectory {
    let path: String
    private var counter = 0

    init(label: String) throws {
        var template = Array((NSTemporaryDirectory() + "/crtool-e2e-\(label)-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw HarnessError("mkdtemp: \(errnoText())")
        }
        path = String(cString: made)
    }

    /// A fresh path inside the directory, unique within the test.
    func newPath(_ name: String) -> String {
        counter += 1
        return "\(path)/\(counter)-\(name)"
    }

    /// A fresh, empty directory (0700: images hold a process's memory).
    func newDirectory(_ name: String) throws -> String {
        let dir = newPath(name)
        guard mkdir(dir, 0o700) == 0 else { throw HarnessError("mkdir \(dir): \(errnoText())") }
        return dir
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
