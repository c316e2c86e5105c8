import Checkpoint
import Foundation

/// Real images damaged one file at a time, each damaged image checked as a
/// restore would check it (`Restorer.check`), then put back; the
/// statistics a dump keeps beside its image are read as `crtool show`
/// reads them.
///
/// An input is one byte that picks the file (its low seven bits, modulo
/// the number of files of all images) followed by the file's new content.
/// Unless the byte's high bit is set, the checksums are made to agree with
/// the new content (the chunk CRCs of a page file, the manifest's record
/// of the file, the manifest's own CRC), so the damage reaches the parsers
/// and decompressors behind them. With the bit set the checksums stay as
/// they were, and a changed file must be refused.
final class ImageMutationTarget {
    struct Slot {
        let image: String
        let name: String
        let original: [UInt8]
    }

    private let slots: [Slot]
    private let manifests: [String: (bytes: [UInt8], manifest: Manifest)]
    private static let keepChecksums: UInt8 = 0x80

    /// `images` are copies the target may write into: a crash leaves the
    /// file it was checking damaged.
    init(images: [String]) throws {
        var slots: [Slot] = []
        var manifests: [String: (bytes: [UInt8], manifest: Manifest)] = [:]
        for image in images {
            let manifest = try ImageDirectory.open(at: image).manifest
            let manifestBytes = try Self.read(image + "/manifest.json")
            manifests[image] = (manifestBytes, manifest)
            slots.append(Slot(image: image, name: "manifest.json", original: manifestBytes))
            for name in manifest.files.keys.sorted() {
                slots.append(Slot(image: image, name: name, original: try Self.read(image + "/" + name)))
            }
            let statistics = image + "/" + DumpStatistics.fileName
            if FileManager.default.fileExists(atPath: statistics) {
                slots.append(Slot(image: image, name: DumpStatistics.fileName, original: try Self.read(statistics)))
            }
        }
        guard !slots.isEmpty, slots.count <= 128 else {
            throw CheckpointError("the fuzzer needs between 1 and 128 image files, and \(images) hold \(slots.count)")
        }
        self.slots = slots
        self.manifests = manifests
    }

    /// One input for each file, as it is.
    var seeds: [(name: String, input: [UInt8])] {
        slots.enumerated().map { index, slot in
            ("\(index)-\(URL(fileURLWithPath: slot.image).lastPathComponent)-\(slot.name)", [UInt8(index)] + slot.original)
        }
    }

    func run(_ input: UnsafeBufferPointer<UInt8>) {
        guard let selector = input.first else { return }
        let slot = slots[Int(selector & ~Self.keepChecksums) % slots.count]
        let resealed = selector & Self.keepChecksums == 0
        var content = Array(input.dropFirst())
        if slot.name == DumpStatistics.fileName {
            // A note beside the image, outside its checksums, read by
            // `crtool show` alone: refused or read, never a crash.
            write(content, slot, slot.name)
            _ = try? DumpStatistics.read(from: slot.image)
            write(slot.original, slot, slot.name)
            return
        }
        let (manifestBytes, manifest) = manifests[slot.image]!
        if resealed, slot.name.hasSuffix(".img") { ImageSealing.sealChunks(&content) }
        write(content, slot, slot.name)
        if resealed {
            if slot.name == "manifest.json" {
                if let sealed = try? ImageSealing.sealManifest(content) { write(sealed, slot, slot.name) }
            } else {
                write(try! ImageSealing.manifest(manifest, recording: slot.name, as: content), slot, "manifest.json")
            }
        }
        let accepted = (try? Restorer.check(directory: slot.image, workers: 1, stubPath: nil)) != nil
        if accepted, !resealed, content != slot.original {
            fatalError("\(slot.image)/\(slot.name) was changed and its checksums were not, and the check accepted it")
        }
        write(slot.original, slot, slot.name)
        if resealed, slot.name != "manifest.json" { write(manifestBytes, slot, "manifest.json") }
    }

    private func write(_ bytes: [UInt8], _ slot: Slot, _ name: String) {
        let path = slot.image + "/" + name
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        } catch {
            fatalError("cannot write \(path): the fuzzer's copy of the image must be writable: \(error)")
        }
    }

    private static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
