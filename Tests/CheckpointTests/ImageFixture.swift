@testable import Checkpoint
import Foundation

/// Per-process metadata as a dump might write it: enough nesting to test
/// coding paths in errors.
struct SampleProcess: Codable, Equatable {
    struct Region: Codable, Equatable {
        var start: UInt64
        var end: UInt64
        var protection: String
    }

    var pid: Int32
    var name: String
    var regions: [Region]
}

/// A small complete image: manifest, one JSON file, one page file with
/// chunks of compressible and random data.
struct ImageFixture {
    static let jsonName = "process-100.json"
    static let pagesName = "pages-100.img"

    let path: String
    let process: SampleProcess
    let chunks: [PageChunk]
    let manifest: Manifest

    static func make(at path: String, chunkCount: Int = 6, pagesPerChunk: Int = 8, codec: Codec = .default, parts: Int = 1) throws -> ImageFixture {
        let image = try ImageDirectory.create(at: path)
        let process = SampleProcess(pid: 100, name: "sample", regions: [
            .init(start: 0x400000, end: 0x401000, protection: "r-x"),
            .init(start: 0x7fff0000, end: 0x80000000, protection: "rw-"),
        ])
        try image.writeJSON(process, to: jsonName)
        let writer = try image.pageWriter(name: pagesName, codec: codec, parts: parts)
        let chunks = (0..<chunkCount).map { index -> PageChunk in
            var chunk = PageStreamTests.makeChunk(index: index, pages: pagesPerChunk, kind: index)
            chunk.pid = 100
            return chunk
        }
        for chunk in chunks { try writer.append(chunk) }
        let processes = [ProcessEntry(pid: 100, ppid: 1, pgid: 100, sid: 100, tids: [100, 101], command: "sample")]
        try image.commit(Manifest(codec: codec, processes: processes))
        return ImageFixture(path: path, process: process, chunks: chunks, manifest: image.manifest)
    }

    /// Opens the image and reads everything in it, as a restore would.
    static func readAll(at path: String) throws -> (Manifest, SampleProcess, [PageChunk]) {
        let image = try ImageDirectory.open(at: path)
        let process = try image.readJSON(SampleProcess.self, from: jsonName)
        let reader = try image.pageReader(name: pagesName)
        let chunks = try reader.chunkLocations().map { try reader.readChunk($0) }
        return (image.manifest, process, chunks)
    }
}
