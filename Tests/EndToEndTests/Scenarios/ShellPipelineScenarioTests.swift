import Glibc
import XCTest

/// A bash script running a pipeline of real programs: a bash loop that
/// counts (forking a `sleep` for every line), `tr` mapping digits to
/// letters, `cat` appending to a file. The whole tree is checkpointed,
/// killed and restored; the file must go on with the next number, none
/// missing, none twice, including what tr held in its output buffer and
/// what was in the pipes at the dump.
final class ShellPipelineScenarioTests: EndToEndCase {
    func testBashPipelineContinuesItsSequenceAfterRestore() throws {
        let bash = "/bin/bash"
        guard access(bash, X_OK) == 0, access("/usr/bin/tr", X_OK) == 0 else {
            throw HarnessError("this test runs /bin/bash, tr and cat: install bash and coreutils")
        }
        let out = scratch.newPath("pipeline.out")
        let script = BuildProducts.packageRoot + "/fixtures/shell/pipeline.sh"
        let shell = try startProgram("pipeline", bash, [script, out])
        defer { try? stopTree(shell.pid) }
        try waitForLines(out, atLeast: 100)

        // The `sleep` processes, children of the loop's subshell, come and
        // go; the script and its children stay for good.
        let before = pipelineIdentity(shell.pid)
        XCTAssertEqual(before.count, 4, "the script, the loop's subshell, tr and cat: \(before)")

        let (image, _) = try checkpointTree(shell)
        let atDump = try XCTUnwrap(readWholeFile(out)).count
        try restore(image, as: shell)
        XCTAssertEqual(pipelineIdentity(shell.pid), before, "the pipeline after the restore")

        let lines = try completeLines(out).count
        try waitForLines(out, atLeast: lines + 120)
        XCTAssertGreaterThan(try XCTUnwrap(readWholeFile(out)).count, atDump)
        try stopTree(shell.pid)

        // Every line, decoded, is the next number; a last line tr had not
        // finished writing must at least be the start of the next one.
        let bytes = try XCTUnwrap(readWholeFile(out))
        var text = String(decoding: bytes, as: UTF8.self)
        let partial: Substring
        if let lastNewline = text.lastIndex(of: "\n") {
            partial = text[text.index(after: lastNewline)...]
            text = String(text[...lastNewline])
        } else {
            partial = Substring(text)
            text = ""
        }
        let all = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertGreaterThanOrEqual(all.count, 220)
        for (n, line) in all.enumerated() where decode(line) != expectedLine(n) {
            XCTFail("\(out): line \(n) decodes to \(decode(line).prefix(40).debugDescription), expected \(expectedLine(n).prefix(40).debugDescription)…")
            break
        }
        XCTAssertTrue(expectedLine(all.count).hasPrefix(decode(partial)),
                      "the unfinished last line \(partial.debugDescription) is not the start of line \(all.count)")
    }

    private func expectedLine(_ n: Int) -> String {
        let digits = String(n)
        return digits + " " + String(repeating: "0", count: 120 - digits.count) + digits
    }

    /// tr mapped 0-9 to a-j; map them back.
    private func decode<S: StringProtocol>(_ line: S) -> String {
        String(line.unicodeScalars.map { s -> Character in
            (s.value >= 0x61 && s.value <= 0x6a) ? Character(UnicodeScalar(s.value - 0x61 + 0x30)!) : Character(s)
        })
    }

    private func completeLines(_ path: String) throws -> [Substring] {
        let text = String(decoding: readWholeFile(path) ?? [], as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    }

    private func waitForLines(_ path: String, atLeast count: Int, timeout: Double = 10) throws {
        guard try poll(timeout: timeout, every: 0.05, { try completeLines(path).count >= count }) else {
            throw HarnessError("\(path) has \(try completeLines(path).count) lines after \(timeout) s, expected \(count)")
        }
    }

    private func pipelineIdentity(_ script: pid_t) -> [ProcessIdentity] {
        ([script] + ProcessTable.children(of: script).sorted()).compactMap { ProcessIdentity.of($0) }
    }
}
