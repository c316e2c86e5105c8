@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A dump that kills its tree does not wait while the kernel frees the
/// root's memory: the root's exit goes to its own parent once the tracer
/// thread ends. This is the path of a dump made in-process, as the bench
/// makes them: the parent (here this test) must hear that the root was
/// killed, and its PID must come free once reaped. A tracer that waited
/// for the exit itself, in the parent's own process, reaped the root and
/// left the parent nothing to hear.
final class KilledRootExitTests: XCTestCase {
    func testTheRootsParentReapsItAfterAnInProcessDump() throws {
        let directory = TestData.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/counter.out"
        let pid = try CleanSpawn.spawn(FreezeWhileCreatingTests.productsDirectory + "/fixture-counter", ["--heap-mib", "64"],
                                       stdout: output, stderr: directory + "/counter.err")
        var reaped: Int32?
        defer {
            if reaped == nil {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        XCTAssertTrue(Polling.until(seconds: 10) { Polling.text(output).contains("ready") }, "the counter's output: \(Polling.text(output))")

        var options = DumpOptions(pid: pid, directory: directory + "/image")
        options.quiet = true
        let report = try TracerThread.run { try Dumper.dump(options) }
        XCTAssertFalse(report.leftRunning)
        XCTAssertTrue(Polling.until(seconds: 10) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { reaped = status }
            return reaped != nil
        }, "pid \(pid) was not reported ended to its parent")
        let status = try XCTUnwrap(reaped)
        XCTAssertEqual(status & 0x7f, SIGKILL, "killed by SIGKILL: wait status \(status)")
        XCTAssertTrue(Polling.until(seconds: 10) { !ProcFile.exists("/proc/\(pid)") }, "pid \(pid) still taken after its parent reaped it")
    }
}
