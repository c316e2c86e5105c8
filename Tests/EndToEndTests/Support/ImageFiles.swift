import Foundation
import Glibc

/// The files of an image directory, found by pattern (manifest.json, the
/// process's metadata *.json, its page data) so the tests do not depend on
/// more of the image's naming than that, and the ways the tests damage them.
struct ImageFiles {
    let directory: String
    let pid: pid_t

    var manifest: String { directory + "/manifest.json" }

    /// Bytes of the page files of the processes of an image directory
    /// (pages-PID.img and its parts).
    static func pageBytes(in dir: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix("pages-") }.reduce(0) { total, name in
            var info = stat()
            return total + (stat(dir + "/" + name, &info) == 0 ? Int(info.st_size) : 0)
        }
    }

    func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// The process's metadata: a JSON file other than the manifest, the one
    /// naming the PID if there are several.
    func processFile() throws -> String {
        let candidates = names().filter { $0.hasSuffix(".json") && $0 != "manifest.json" }
        return try pick(candidates, what: "process JSON")
    }

    /// The page data: the largest file with "page" in its name.
    func pageFile() throws -> String {
        let candidates = names().filter { $0.lowercased().contains("page") && !$0.hasSuffix(".json") }
        return try pick(candidates, what: "page file")
    }

    private func pick(_ candidates: [String], what: String) throws -> String {
        let named = candidates.filter { $0.contains(String(pid)) }
        let pool = named.isEmpty ? candidates : named
        guard let best = pool.max(by: { (fileSize(directory + "/" + $0) ?? 0) < (fileSize(directory + "/" + $1) ?? 0) }) else {
            throw HarnessError("no \(what) in \(directory); it holds \(names())")
        }
        return directory + "/" + best
    }

    // MARK: damage

    /// Flips the lowest bit of the byte at `offset`.
    static func flipBit(in path: String, at offset: Int) throws {
        guard var bytes = readWholeFile(path), offset < bytes.count else {
            throw HarnessError("cannot flip byte \(offset) of \(path)")
        }
        bytes[offset] ^= 0x01
        try writeWholeFile(path, bytes)
    }

    /// The JSON structural character nearest the middle: with its low bit
    /// flipped ({→z, :→;, "→#, ,→-, …) the document no longer parses.
    static func middleStructuralByte(of path: String) throws -> Int {
        try nearestMiddle(of: path, "structural character") { "{}[]:,\"".utf8.contains($0) }
    }

    /// The decimal digit nearest the middle: flipping its low bit gives
    /// another digit, so the JSON still parses and only a checksum can tell.
    static func middleDigit(of path: String) throws -> Int {
        try nearestMiddle(of: path, "digit") { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func nearestMiddle(of path: String, _ what: String, _ matches: (UInt8) -> Bool) throws -> Int {
        guard let bytes = readWholeFile(path) else { throw HarnessError("cannot read \(path)") }
        let middle = bytes.count / 2
        for distance in 0..<max(bytes.count, 1) {
            for offset in [middle + distance, middle - distance] where offset >= 0 && offset < bytes.count {
                if matches(bytes[offset]) { return offset }
            }
        }
        throw HarnessError("no \(what) in \(path)")
    }

    static func truncate(_ path: String, to size: Int) throws {
        guard Glibc.truncate(path, off_t(size)) == 0 else {
            throw HarnessError("truncate \(path): \(errnoText())")
        }
    }

    /// Rewrites the manifest's "formatVersion" value, leaving every other
    /// byte as it was.
    static func setFormatVersion(in path: String, to version: Int) throws {
        guard let text = readTextFile(path),
              let range = text.range(of: #""formatVersion"\s*:\s*[0-9]+"#, options: .regularExpression) else {
            throw HarnessError("no \"formatVersion\" number in \(path)")
        }
        let updated = text.replacingCharacters(in: range, with: "\"formatVersion\": \(version)")
        try writeWholeFile(path, Array(updated.utf8))
    }
}
