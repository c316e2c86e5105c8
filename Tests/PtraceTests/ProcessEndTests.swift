import Foundation
import Glibc
import Ptrace
import XCTest

/// `PidFD.processHasEnded`, which tells a process that has ended from one
/// whose main thread alone has: /proc reads both as a zombie, and a dump
/// that took the second for the first refused a live process.
final class ProcessEndTests: XCTestCase {
    func testARunningProcessHasNotEndedAndAZombieHas() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        XCTAssertFalse(PidFD.processHasEnded(pid: pid))
        kill(pid, SIGKILL)
        try waitUntil("sleep \(pid) is a zombie") { (try? ProcStat.read(pid: pid))?.state == "Z" }
        XCTAssertTrue(PidFD.processHasEnded(pid: pid), "a zombie waiting for its parent")
        XCTAssertNotNil(children.waitForExit(pid, timeout: 10))
        XCTAssertTrue(PidFD.processHasEnded(pid: pid), "a process reaped and gone")
    }

    /// The main thread ends with pthread_exit while another thread sleeps:
    /// the leader reads as a zombie, and the process has not ended.
    func testAProcessWhoseMainThreadAloneEndedHasNotEnded() throws {
        let children = makeChildren()
        let program = """
            import ctypes, threading, time
            threading.Thread(target=time.sleep, args=(60,)).start()
            ctypes.CDLL(None).pthread_exit(None)
            """
        let pid = try spawn("/usr/bin/python3", ["-c", program], into: children)
        try waitUntil("python3 \(pid)'s main thread has ended") { (try? ProcStat.read(pid: pid))?.state == "Z" }
        XCTAssertEqual((try? ProcDirectory.threads(pid: pid))?.count, 2)
        XCTAssertFalse(PidFD.processHasEnded(pid: pid), "its second thread sleeps on")
        let handle = try PidFD(pid: pid)
        XCTAssertFalse(handle.processHasEnded)
        kill(pid, SIGKILL)
        try waitUntil("python3 \(pid) has ended") { handle.processHasEnded }
        XCTAssertNotNil(children.waitForExit(pid, timeout: 10))
    }
}
