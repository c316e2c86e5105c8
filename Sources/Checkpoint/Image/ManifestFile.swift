import Codecs
import Foundation

/// manifest.json as bytes: the manifest plus a CRC of the file itself.
///
/// Every other file is checked against the manifest, so the manifest needs
/// its own check: it holds a "manifestCRC32" key whose value is the CRC-32
/// of the whole file with that value written as "00000000". The check is on
/// the exact bytes, so any changed byte is caught, whitespace included, and
/// the file stays plain JSON that people and other tools can read.
enum ManifestFile {
    static let name = "manifest.json"
    static let checksumKey = "manifestCRC32"
    /// Larger manifests are refused before being read into memory.
    static let maxSize = 64 << 20

    static func encode(_ manifest: Manifest) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try seal([UInt8](try encoder.encode(Checksummed(manifest: manifest, checksum: placeholder))))
    }

    /// Writes the checksum of `bytes` into their checksum field, whatever
    /// value it holds now.
    static func seal(_ bytes: [UInt8]) throws -> [UInt8] {
        guard let digits = checksumDigits(in: bytes) else {
            throw ImageError(file: name, field: checksumKey, reason: "no checksum field to fill in")
        }
        var sealed = bytes
        sealed.replaceSubrange(digits, with: placeholder.utf8)
        sealed.replaceSubrange(digits, with: hexDigits(CRC32.checksum(sealed)))
        return sealed
    }

    /// A newer format may be checksummed differently, so "written by a newer
    /// crtool" wins over a checksum mismatch; otherwise nothing is decoded
    /// before the checksum holds.
    static func decode(_ bytes: [UInt8]) throws -> Manifest {
        let data = Data(bytes)
        let decoder = JSONDecoder()
        let probedVersion = try? decoder.decode(VersionProbe.self, from: data).formatVersion
        if let version = probedVersion, version > Manifest.currentFormatVersion {
            throw ImageError(
                file: name, field: "formatVersion",
                reason: "\(version): written by a newer crtool (this one reads up to \(Manifest.currentFormatVersion))")
        }
        try verifyChecksum(bytes)
        do {
            let version = try decoder.decode(VersionProbe.self, from: data).formatVersion
            guard version >= 1 else {
                throw ImageError(file: name, field: "formatVersion", reason: "\(version) is not a valid format version")
            }
            return try decoder.decode(Manifest.self, from: data)
        } catch let error as DecodingError {
            throw ImageError(file: name, decoding: error)
        }
    }

    private static func verifyChecksum(_ bytes: [UInt8]) throws {
        guard let digits = checksumDigits(in: bytes) else {
            throw ImageError(file: name, field: checksumKey, reason: "missing or not 8 hex digits in quotes")
        }
        let stored = String(decoding: bytes[digits], as: UTF8.self)
        var blanked = bytes
        blanked.replaceSubrange(digits, with: placeholder.utf8)
        let computed = String(decoding: hexDigits(CRC32.checksum(blanked)), as: UTF8.self)
        guard stored == computed else {
            throw ImageError(
                file: name, field: checksumKey,
                reason: "stored \(stored), computed \(computed): the file was changed or damaged")
        }
    }

    private static let placeholder = "00000000"

    private static func hexDigits(_ value: UInt32) -> [UInt8] {
        Array(hex32(value).utf8.dropFirst(2))
    }

    /// The 8 digits of the first `"manifestCRC32" : "xxxxxxxx"` pair. The
    /// pattern cannot match inside a string value, where quotes are escaped.
    private static func checksumDigits(in bytes: [UInt8]) -> Range<Int>? {
        let key = Array("\"\(checksumKey)\"".utf8)
        var start = 0
        while let found = firstIndex(of: key, in: bytes, from: start) {
            var index = found + key.count
            func skipSpaces() {
                while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
            }
            skipSpaces()
            if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                index += 1
                skipSpaces()
                let digits = index + 1..<index + 9
                if digits.upperBound < bytes.count, bytes[index] == UInt8(ascii: "\""), bytes[digits.upperBound] == UInt8(ascii: "\""),
                   bytes[digits].allSatisfy(isLowercaseHexDigit) {
                    return digits
                }
            }
            start = found + 1
        }
        return nil
    }

    private static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func firstIndex(of pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard let first = pattern.first, bytes.count >= pattern.count else { return nil }
        var index = start
        while index <= bytes.count - pattern.count {
            if bytes[index] == first, bytes[index..<index + pattern.count].elementsEqual(pattern) { return index }
            index += 1
        }
        return nil
    }

    private struct VersionProbe: Decodable {
        var formatVersion: Int
    }

    /// Writes the manifest's own keys and the checksum key side by side at
    /// the top level.
    private struct Checksummed: Encodable {
        var manifest: Manifest
        var checksum: String

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: Encoder) throws {
            try manifest.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(checksum, forKey: Key(stringValue: ManifestFile.checksumKey))
        }
    }
}
