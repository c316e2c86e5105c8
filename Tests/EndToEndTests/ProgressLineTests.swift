import Foundation
import Glibc
import XCTest

/// A dump that takes seconds shows how far it is on the terminal it runs
/// on, and nothing with --quiet. The workload is python3 holding 256 MiB
/// of text-like bytes, which zlib compresses at some tens of MB/s a core,
/// so each dump here takes a few seconds.
final class ProgressLineTests: EndToEndCase {
    private static let program = """
        import random, sys, time, zlib
        random.seed(7)
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(random.choice(letters) for _ in range(random.randint(3, 9))) for _ in range(5000)]
        block = " ".join(random.choice(words) for _ in range(400000)).encode()[:1 << 21]
        text = bytearray(block * 128)
        crc = zlib.crc32(text)
        print("ready", flush=True)
        tick = 0
        while True:
            tick += 1
            print("tick", tick, flush=True)
            if tick % 20 == 0:
                print("verify", "ok" if zlib.crc32(text) == crc else "FAIL", flush=True)
            time.sleep(0.1)
        """

    /// Runs `crtool dump` with its stderr on a terminal, its stdout in a
    /// file; returns the image, what the terminal showed and what went to
    /// stdout.
    private func dumpOnATerminal(_ fixture: Fixture, _ options: [String]) throws -> (image: String, terminal: String, stdout: String) {
        let terminal = try PseudoTerminal()
        defer { terminal.close() }
        _ = fcntl(terminal.master, F_SETFL, O_NONBLOCK)
        let dir = try scratch.newDirectory("image")
        let stdout = scratch.newPath("dump.stdout")
        let pid = try spawnProcess(BuildProducts.crtool, ["dump", "-t", "\(fixture.pid)", "-D", dir] + options,
                                   stdout: stdout, stderr: terminal.slavePath)
        var shown: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func drain() {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(terminal.master, $0.baseAddress, $0.count) }
                guard n > 0 else { return }
                shown += buffer[0..<n]
            }
        }
        var status: ExitStatus?
        try poll(timeout: 120, every: 0.05) {
            drain()
            status = try waitForExit(pid, timeout: 0)
            return status != nil
        }
        drain()
        let out = readTextFile(stdout) ?? ""
        let text = String(decoding: shown, as: UTF8.self)
        guard status == .exited(0) else {
            throw HarnessError("dump ended with \(status.map { "\($0)" } ?? "no exit in 120 s"):\n\(out)\(text)")
        }
        return (dir, text, out)
    }

    /// What the terminal showed holds lines "<label>: <done> of <total>,
    /// <rate>/s" (the total is the python3 process's 256 MiB of text and
    /// a little more), each begun by a carriage return, and ends with the
    /// line cleared; the summary went to stdout.
    private func assertProgress(_ shown: String, label: String, stdout: String, pid: pid_t,
                                file: StaticString = #filePath, line: UInt = #line) {
        let lines = shown.split(separator: "\r").map(String.init).filter { $0.hasPrefix(label + ": ") }
        XCTAssertFalse(lines.isEmpty, "no \"\(label)\" progress line: \(shown.debugDescription)\n\(stdout)", file: file, line: line)
        let pattern = "^" + NSRegularExpression.escapedPattern(for: label) + #": [0-9.]+ [KMG]iB of 2[5-9][0-9]\.[0-9] MiB, [0-9.]+ [KMG]iB/s +$"#
        for text in lines {
            XCTAssertNotNil(text.range(of: pattern, options: .regularExpression), text.debugDescription, file: file, line: line)
        }
        XCTAssertTrue(shown.hasSuffix("\r\u{1b}[K"), "the line is cleared at the end: \(shown.suffix(80).debugDescription)", file: file, line: line)
        XCTAssertTrue(stdout.hasPrefix("dumped pid \(pid) "), stdout, file: file, line: line)
        XCTAssertFalse(stdout.contains("\r"), "progress stays off stdout: \(stdout.debugDescription)", file: file, line: line)
    }

    func testADumpOnATerminalShowsBytesAndRateThenClearsTheLine() throws {
        let fixture = try startPython("text-holder", Self.program)
        try fixture.waitFor("tick", atLeast: 1)
        let (image, shown, stdout) = try dumpOnATerminal(fixture, ["--compress", "zlib:6"])
        assertProgress(shown, label: "dump", stdout: stdout, pid: fixture.pid)

        // The dump killed it; compressed by zlib, it comes back whole.
        guard try waitForExit(fixture.pid, timeout: 10) != nil else { throw HarnessError("the dump left pid \(fixture.pid) running") }
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("tick", 1, after: mark)
        try fixture.waitFor(line: "verify ok", from: mark, timeout: 30)
        assertNoFailures(fixture)
    }

    func testATreeLeftRunningShowsTheCompressionThatFollows() throws {
        let fixture = try startPython("text-holder", Self.program)
        try fixture.waitFor("tick", atLeast: 1)
        let (_, shown, stdout) = try dumpOnATerminal(fixture, ["--compress", "zlib:6", "--leave-running"])
        // Read at once, the pages are compressed while the tree runs on:
        // that is the long part, and it has a line of its own.
        assertProgress(shown, label: "dump, compressing", stdout: stdout, pid: fixture.pid)
        let mark = fixture.lineCount
        try fixture.waitForMore("tick", 2, after: mark)
        assertNoFailures(fixture)
    }

    func testQuietShowsNothingOnTheTerminal() throws {
        let fixture = try startPython("text-holder", Self.program)
        try fixture.waitFor("tick", atLeast: 1)
        let (_, shown, stdout) = try dumpOnATerminal(fixture, ["--compress", "zlib:6", "--leave-running", "--quiet"])
        XCTAssertEqual(shown, "", "--quiet: nothing on the terminal")
        XCTAssertEqual(stdout, "", "--quiet: no summary either")
        assertNoFailures(fixture)
    }
}
