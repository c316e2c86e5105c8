import Foundation
import Glibc
import XCTest

/// A thread caught by the dump at its birth (cloned, attached by the
/// kernel, stopped before its first instruction) is saved with the others
/// and starts from there after the restore: the process goes on making
/// and joining threads, with no thread made twice or lost. A thread that
/// execs takes the whole process with it, and is dumped all the same.
final class ThreadBirthTests: EndToEndCase {
    func testAThreadCaughtAtItsBirthStartsAfterTheRestore() throws {
        let cloner = try startFixture("cloner")
        try cloner.waitFor("threads", atLeast: 10000)
        // About one dump in three lands while the second thread exists.
        var caught: String?
        for _ in 0..<60 where caught == nil {
            let image = try checkpoint(cloner, options: ["--leave-running"])
            if try threadCount(in: image) == 2 { caught = image }
        }
        let image = try XCTUnwrap(caught, "no dump in 60 caught a thread being made")
        try killAndReap(cloner.pid)

        let mark = cloner.lineCount
        let last = try XCTUnwrap(cloner.numbers("threads").last)
        try restore(image, as: cloner)
        try cloner.waitFor("threads", atLeast: last + 30000, from: mark)
        XCTAssertLessThanOrEqual(ProcessTable.threadIds(of: cloner.pid).count, 2, "one thread made and joined at a time")
        try killAndReap(cloner.pid)
        assertNoFailures(cloner)
    }

    /// A process whose second thread execs it again and again is dumped
    /// while it does, twenty times with --leave-running and once for
    /// good: every dump succeeds, and the restored image goes on exec'ing
    /// from where it was, one generation after another.
    func testAProcessExecingFromAThreadIsDumpedAndRestored() throws {
        let execer = try startFixture("cloner", ["--exec"])
        try execer.waitFor("generation", atLeast: 1000)
        for _ in 0..<20 {
            _ = try checkpoint(execer, options: ["--leave-running"])
        }
        let image = try checkpoint(execer)

        let mark = execer.lineCount
        let last = try XCTUnwrap(execer.numbers("generation").last)
        try restore(image, as: execer)
        try execer.waitFor("generation", atLeast: last + 3000, from: mark)
        try killAndReap(execer.pid)
        assertNoFailures(execer)
    }

    /// The threads the image holds of its one process, from its manifest.
    private func threadCount(in image: String) throws -> Int {
        let data = try Data(contentsOf: URL(fileURLWithPath: image + "/manifest.json"))
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let processes = try XCTUnwrap(manifest["processes"] as? [[String: Any]])
        XCTAssertEqual(processes.count, 1)
        return try XCTUnwrap(processes.first?["tids"] as? [Any]).count
    }
}
