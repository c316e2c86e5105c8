import Foundation
import Glibc
import XCTest

/// Periodic checkpoints of a long job, the way they are used: gzip -9
/// compressing a file is checkpointed and left running, runs on (its output
/// grows past what the checkpoint saw), and is killed as if the machine had
/// gone down. Restored from the checkpoint, it takes up its input and its
/// output at the saved positions, writes over what it had written since,
/// and ends with a file byte for byte what gzip left alone makes.
final class GzipScenarioTests: EndToEndCase {
    static let gzip = "/usr/bin/gzip"

    func testJobRestoredFromAnEarlierCheckpointMakesTheSameOutput() throws {
        try requirePrograms(Self.gzip, from: "Debian's gzip")
        let dir = try scratch.newDirectory("gzip")
        let input = dir + "/words.txt", output = dir + "/words.txt.gz"
        try writeWholeFile(input, Self.words(mebibytes: 48))
        let job = try startProgram("gzip", "/bin/sh", ["-c", "exec \(Self.gzip) -9 -c \(input) > \(output)"], isReady: nil)
        defer { try? stopTree(job.pid) }
        try waitForSize(of: output, atLeast: 1 << 20, job)

        let image = try checkpoint(job, options: ["--leave-running"])
        let shown = try crtool(["show", image]).stdout
        let saved = try XCTUnwrap(Self.recordedLength(of: "words.txt.gz", in: shown), shown)
        try waitForSize(of: output, atLeast: saved + (2 << 20), job)
        try killAndReap(job.pid)
        let grown = try XCTUnwrap(fileSize(output), "the output is gone")
        XCTAssertGreaterThan(grown, saved, "the output grew past the checkpoint before the job was lost")

        try restore(image, as: job)
        guard let status = try waitForExit(job.pid, timeout: 120) else {
            throw HarnessError("the restored gzip did not finish within 120 s")
        }
        XCTAssertEqual(status, .exited(0), job.stderrTail())

        let reference = dir + "/reference.gz"
        let made = try runCommand("/bin/sh", ["-c", "\(Self.gzip) -9 -c \(input) > \(reference)"],
                                  outputPrefix: scratch.newPath("reference-gzip"), timeout: 120)
        XCTAssertTrue(made.succeeded, "\(made)")
        let restored = try XCTUnwrap(readWholeFile(output)), expected = try XCTUnwrap(readWholeFile(reference))
        XCTAssertEqual(restored.count, expected.count, "the restored job's output length")
        XCTAssertTrue(restored == expected, "the restored job's output differs from what gzip left alone makes")
    }

    /// Text of words from a fixed generator, a few MiB made once and
    /// repeated: far more than gzip's 32 KiB window, so it compresses at
    /// gzip's own pace throughout.
    static func words(mebibytes: Int) -> [UInt8] {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let letters = Array("abcdefghij".utf8)
        let vocabulary: [[UInt8]] = (0..<5000).map { _ in (0..<(2 + Int(next() % 8))).map { _ in letters[Int(next() % 10)] } }
        var block: [UInt8] = []
        block.reserveCapacity(6 << 20)
        var count = 0
        while block.count < 6 << 20 {
            block += vocabulary[Int(next() % 5000)]
            count += 1
            block.append(count % 12 == 0 ? 0x0a : 0x20)
        }
        var text: [UInt8] = []
        text.reserveCapacity(mebibytes << 20)
        while text.count + block.count <= mebibytes << 20 { text += block }
        return text
    }

    /// The length `crtool show` gives for the descriptor of a file named
    /// `name`: "… /name pos P of N bytes".
    static func recordedLength(of name: String, in shown: String) -> Int? {
        for line in shown.split(separator: "\n") where line.contains("/\(name) pos ") {
            let words = line.split(separator: " ")
            if let of = words.firstIndex(of: "of"), of + 1 < words.count { return Int(words[of + 1]) }
        }
        return nil
    }

    private func waitForSize(of path: String, atLeast bytes: Int, _ job: Fixture) throws {
        var size = 0
        let reached = poll(timeout: 60, every: 0.01) {
            size = fileSize(path) ?? 0
            return size >= bytes || !ProcessTable.isAlive(job.pid)
        }
        guard reached, size >= bytes else {
            throw HarnessError("\(path) is \(size) bytes, not \(bytes), and gzip \(ProcessTable.isAlive(job.pid) ? "still runs" : "has ended")\(job.stderrTail())")
        }
    }
}
