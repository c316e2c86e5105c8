@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A freeze gives up on a process once it has taken twice its timeout,
/// however busy its threads keep it (made, exec'd or replaced as fast as
/// they are stopped), and lets the process go as it was.
final class FreezeDeadlineTests: XCTestCase {
    func testAFreezeGivesUpOnceItsWholeTimeIsSpent() throws {
        let fixture = Process()
        fixture.executableURL = URL(fileURLWithPath: FreezeWhileCreatingTests.productsDirectory + "/fixture-cloner")
        fixture.arguments = ["--exec"]
        let out = Pipe()
        fixture.standardOutput = out
        try fixture.run()
        defer { kill(fixture.processIdentifier, SIGKILL); fixture.waitUntilExit() }
        XCTAssertTrue(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("ready"))
        let pid = fixture.processIdentifier

        // No time at all: the first pass finds it spent.
        XCTAssertThrowsError(try TracerThread.run { try FrozenProcess(pid: pid, timeout: 0).freeze() }) { error in
            XCTAssertTrue("\(error)".contains("pid \(pid) did not hold still within 0 s"), "\(error)")
            XCTAssertTrue("\(error)".contains("let every process go as it was"), "\(error)")
        }
        XCTAssertTrue(Polling.until { (try? ProcStatus.read(pid: pid))?.tracerPid == 0 }, "no longer traced")
        XCTAssertTrue(fixture.isRunning)
        // With its time, the same process is frozen whole.
        let frozen = FrozenProcess(pid: pid, timeout: FrozenProcess.defaultTimeout)
        try TracerThread.run {
            try frozen.freeze()
            frozen.release()
        }
        XCTAssertTrue(fixture.isRunning)
    }
}
