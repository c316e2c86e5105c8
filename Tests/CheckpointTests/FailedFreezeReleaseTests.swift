@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A freeze that gives up on a thread it cannot stop (a parent inside
/// vfork, asleep in the kernel) leaves that thread's interrupt pending, and
/// no ptrace request lets a thread go before it stops. The kernel lets it
/// go when the tracer thread ends, and every dump runs on a tracer thread
/// of its own (TracerThread.run): so a failed dump made in-process, as the
/// bench makes them, gives the process back as the command line does,
/// instead of leaving it to stop for good once it leaves the kernel.
final class FailedFreezeReleaseTests: XCTestCase {
    func testAFreezeThatTimesOutLetsTheTreeGoWhenItsTracerThreadEnds() throws {
        let directory = TestData.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/vforker.out"
        XCTAssertTrue(FileManager.default.createFile(atPath: output, contents: nil))
        let fixture = Process()
        fixture.executableURL = URL(fileURLWithPath: FreezeWhileCreatingTests.productsDirectory + "/fixture-vforker")
        fixture.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        try fixture.run()
        let parent = fixture.processIdentifier
        var child: Int32?
        defer {
            if let child { kill(child, SIGKILL) }
            kill(parent, SIGKILL)
            fixture.waitUntilExit()
        }
        XCTAssertTrue(Polling.until {
            child = (try? ProcDirectory.children(pid: parent))?.first
            return child != nil && (try? ProcStatus.read(pid: parent))?.state.hasPrefix("D") == true && Polling.text(output).contains("ready")
        }, "a parent in vfork (state D) and its child")

        XCTAssertThrowsError(try TracerThread.run { try FrozenTree(root: parent, timeout: 0.5).freeze() }) { error in
            XCTAssertTrue("\(error)".contains("did not stop within"), "\(error)")
        }
        let tree = try [parent, XCTUnwrap(child)]
        XCTAssertTrue(Polling.until { tree.allSatisfy { (try? ProcStatus.read(pid: $0))?.tracerPid == 0 } },
                      "still traced: \(tree.map { (try? ProcStatus.read(pid: $0))?.tracerPid ?? -1 })")
        // The child ends, and the parent, back from vfork, runs on.
        XCTAssertEqual(kill(tree[1], SIGTERM), 0)
        XCTAssertTrue(Polling.until { Polling.text(output).contains("parent back") }, "the parent's output: \(Polling.text(output))")
        XCTAssertTrue(fixture.isRunning)
    }
}
