@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A crtool killed while it asks a process its questions (the injected
/// calls of a dump) leaves the process running as it was: the tracer
/// thread here collects a process as a dump does and then ends without
/// giving anything back, which is what the kernel sees of a tracer
/// killed at that moment. Without parking, the leader would run on from
/// the runner with crtool's registers and crash.
final class AbandonedQuestionsTests: XCTestCase {
    func testAProcessLeftBorrowedCarriesOnWithItsVectorRegisters() throws {
        let (pid, output) = try start("fixture-avx")
        let oks = { Polling.text(output).components(separatedBy: " ok\n").count - 1 }
        XCTAssertTrue(Polling.until(seconds: 10) { oks() >= 1 }, "the fixture's output: \(Polling.text(output))")

        let (threads, parked) = try collectAndEnd(pid)
        XCTAssertEqual(threads, 1)
        XCTAssertTrue(parked, "the leader was parked")
        XCTAssertTrue(Polling.until(seconds: 10) { (try? ProcStatus.read(pid: pid))?.tracerPid == 0 }, "pid \(pid) still traced")
        let before = oks()
        XCTAssertTrue(Polling.until(seconds: 10) { oks() >= before + 2 }, "the fixture's output: \(Polling.text(output))")
        XCTAssertFalse(Polling.text(output).contains("FAIL"), Polling.text(output))
        XCTAssertEqual(Polling.text(output.replacingOccurrences(of: "/out", with: "/err")), "")
        XCTAssertTrue(ProcFile.exists("/proc/\(pid)"), "pid \(pid) ended")
    }

    func testThreadsLeftBorrowedCarryOn() throws {
        let (pid, output) = try start("fixture-threads")
        let counts = { Polling.text(output).components(separatedBy: "\n").filter { $0.hasPrefix("counts ") } }
        XCTAssertTrue(Polling.until(seconds: 10) { counts().count >= 1 }, "the fixture's output: \(Polling.text(output))")

        let (threads, parked) = try collectAndEnd(pid)
        XCTAssertEqual(threads, 9)
        XCTAssertTrue(parked, "the leader was parked")
        XCTAssertTrue(Polling.until(seconds: 10) { (try? ProcStatus.read(pid: pid))?.tracerPid == 0 }, "pid \(pid) still traced")
        let seen = counts().count
        XCTAssertTrue(Polling.until(seconds: 10) { counts().count >= seen + 3 }, "the fixture's output: \(Polling.text(output))")
        let text = Polling.text(output)
        XCTAssertFalse(text.contains("FAIL"), text)
        XCTAssertEqual(Polling.text(output.replacingOccurrences(of: "/out", with: "/err")), "")
        XCTAssertTrue(ProcFile.exists("/proc/\(pid)"), "pid \(pid) ended: \(text)")
    }

    /// Freezes `pid` and collects it as a dump does, on a tracer thread
    /// that then ends with the leader borrowed: its thread count, and
    /// whether the leader was parked.
    private func collectAndEnd(_ pid: pid_t) throws -> (Int, Bool) {
        try TracerThread.run {
            let frozen = FrozenProcess(pid: pid)
            try frozen.freeze()
            let layout = try XCTUnwrap(try ProcessCollector.layouts(of: [frozen], workers: 1, forDump: true).first)
            let collected = try ProcessCollector.collect(frozen, layout: layout, mappedObjects: layout.mappedObjects,
                                                         system: SystemDescriptors(), ghostLimit: 1 << 20)
            return (collected.image.threads.count, collected.inspector.leaderIsParked)
        }
    }

    /// Starts a fixture with its output in a file; killed and reaped when
    /// the test ends.
    private func start(_ fixture: String) throws -> (pid_t, String) {
        let directory = TestData.temporaryDirectory()
        let output = directory + "/out"
        let pid = try CleanSpawn.spawn(FreezeWhileCreatingTests.productsDirectory + "/" + fixture, [],
                                       stdout: output, stderr: directory + "/err")
        addTeardownBlock {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            try? FileManager.default.removeItem(atPath: directory)
        }
        return (pid, output)
    }
}
