import Foundation
import Glibc

/// A private directory under /tmp for one fixture's logs and image, so the
/// image is written to the filesystem /tmp is on, and one removal cleans
/// up everything a case wrote.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/crtool-bench.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw BenchError.system("mkdtemp in /tmp") }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Where the dump writes its image; it must not exist yet.
    var imagePath: String { path + "/image" }

    /// Bytes of every file in the image: pages and metadata.
    func imageBytes() throws -> UInt64 {
        let names = try FileManager.default.contentsOfDirectory(atPath: imagePath)
        return try names.reduce(UInt64(0)) { total, name in
            let attributes = try FileManager.default.attributesOfItem(atPath: imagePath + "/" + name)
            return total + ((attributes[.size] as? NSNumber)?.uint64Value ?? 0)
        }
    }

    func removeImage() {
        try? FileManager.default.removeItem(atPath: imagePath)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
