import Checkpoint
import Foundation
import Glibc
import XCTest

/// `crtool restore --check-only`: everything a restore checks, every page
/// decompressed, nothing created.
final class CheckOnlyTests: EndToEndCase {
    func testAWholeImagePassesAndStillRestores() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 2)
        let checksum = try heapChecksum(counter)
        let image = try checkpoint(counter)
        let before = try Self.contents(of: image)

        let result = try crtool(["restore", "-D", image, "--check-only"])
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertTrue(result.stdout.contains("1 thread"), "\(result)")
        XCTAssertTrue(result.stdout.contains("its ids and addresses are free here"), "\(result)")
        XCTAssertFalse(ProcessTable.isAlive(counter.pid), "the check made pid \(counter.pid)")
        XCTAssertEqual(liveProcessesStartedHere(), [])
        XCTAssertEqual(try Self.contents(of: image), before, "the check changed the image")

        let mark = counter.lineCount
        try restore(image, as: counter)
        try counter.waitFor("tick", atLeast: 1, from: mark)
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    func testIdsInUseAreNamed() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 2)
        let image = try checkpoint(counter, options: ["--leave-running"])

        let result = try crtool(["restore", "-D", image, "--check-only"])
        XCTAssertFalse(result.succeeded, "a check with the process still running passed: \(result)")
        XCTAssertTrue(result.stderr.contains("id \(counter.pid) is in use"), "\(result)")
        XCTAssertTrue(ProcessTable.isAlive(counter.pid))
        assertNoFailures(counter)
    }

    func testAMissingStubIsNamed() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 2)
        let image = try checkpoint(counter)
        let result = try crtoolWithoutStub(["restore", "-D", image, "--check-only"])
        XCTAssertEqual(result.status, .exited(1), "\(result)")
        XCTAssertTrue(result.stderr.contains("the restore stub /nonexistent/crtool-restore-stub is missing"), "\(result)")
    }

    /// A compressed chunk whose checksums agree with its damaged bytes:
    /// `show`, which checks checksums, passes it; the check decompresses
    /// it and names the file and the chunk, as a restore would only half
    /// way through.
    func testADamagedChunkBehindItsChecksumsIsFound() throws {
        let sleeper = try startFixture("threads")
        try sleeper.waitFor("counts", atLeast: 2)
        let image = try checkpoint(sleeper)
        let files = ImageFiles(directory: image, pid: sleeper.pid)
        let pages = try files.pageFile()
        let chunk = try XCTUnwrap(try PageStreamReader(path: pages).chunkLocations().first { $0.header.codec == .zstd },
                                  "no zstd chunk in \(pages)")
        var bytes = try XCTUnwrap(readWholeFile(pages))
        for i in 0..<4 { bytes[Int(chunk.dataOffset) + i] ^= 0xff } // the zstd frame's magic number
        ImageSealing.sealChunks(&bytes)
        try writeWholeFile(pages, bytes)
        let manifest = try ImageDirectory.open(at: image, verifyContents: false).manifest
        let name = String(pages.split(separator: "/").last!)
        try writeWholeFile(files.manifest, try ImageSealing.manifest(manifest, recording: name, as: bytes))

        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.succeeded, "the damage should get past the checksums: \(shown)")
        let result = try crtool(["restore", "-D", image, "--check-only"])
        XCTAssertFalse(result.succeeded, "a chunk that cannot be decompressed passed the check: \(result)")
        XCTAssertTrue(result.stderr.contains("\(name), chunk \(chunk.index)"), "\(result)")
        XCTAssertFalse(ProcessTable.isAlive(sleeper.pid))
        XCTAssertEqual(liveProcessesStartedHere(), [])
    }

    private static func contents(of directory: String) throws -> [String: [UInt8]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        return Dictionary(uniqueKeysWithValues: names.map { ($0, readWholeFile(directory + "/" + $0) ?? []) })
    }
}
