import Foundation
import Glibc
import XCTest

/// A program whose executable was deleted (or replaced, as a package
/// upgrade does) while it runs: the dump saves the binary from its
/// mappings, and the restore maps it and makes /proc/PID/exe again from
/// that saved copy, twice in a row. The dump used to succeed, killing the
/// process, and the restore then failed on the missing path.
final class DeletedExecutableTests: EndToEndCase {
    func testProgramWhoseBinaryWasDeletedComesBack() throws {
        let copy = try scratch.newDirectory("bin") + "/counter-copy"
        let original = BuildProducts.fixture("counter")
        try BuildProducts.requireExecutable(original)
        guard let bytes = readWholeFile(original) else { throw HarnessError("cannot read \(original)") }
        try writeWholeFile(copy, bytes)
        XCTAssertEqual(chmod(copy, 0o755), 0, errnoText())
        let counter = try startProgram("counter", copy, ["--heap-mib", "16"])
        XCTAssertEqual(unlink(copy), 0, errnoText())
        let checksum = try heapChecksum(counter)
        let before = try executable(of: counter.pid)
        XCTAssertTrue(before.hasSuffix("/counter-copy (deleted)"), "before the dump /proc/PID/exe is \(before)")

        for round in 1...2 {
            let (_, mark) = try roundTrip(counter)
            let exe = try executable(of: counter.pid)
            XCTAssertTrue(exe.hasSuffix("counter-copy (deleted)"), "round \(round): /proc/PID/exe is \(exe)")
            try counter.signal(SIGUSR1)
            try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        }
        XCTAssertFalse(fileExists(copy), "the restore must not leave the binary on disk")
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }

    private func executable(of pid: pid_t) throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }
}
