import Foundation
import Glibc
import Ptrace
import XCTest

/// process_mrelease through `PidFD.releaseMemory`, which a dump that kills
/// its tree calls so that the tree's memory is freed from two cores.
final class MemoryReleaseTests: XCTestCase {
    /// A python3 child with `mib` MiB of pages of its own written.
    func spawnHolder(mib: Int, into children: Children) throws -> pid_t {
        let program = "b = bytearray(\(mib) << 20)\nb[::4096] = b'\\x01' * (len(b) // 4096)\nimport time\ntime.sleep(60)"
        let pid = try spawn("/usr/bin/python3", ["-c", program], into: children)
        try waitUntil("python3 \(pid) holds \(mib) MiB") { (anonymousKiB(pid) ?? 0) >= UInt64(mib) * 1024 }
        return pid
    }

    func testALiveProcessKeepsItsMemory() throws {
        let children = makeChildren()
        let pid = try spawnHolder(mib: 16, into: children)
        XCTAssertThrowsError(try PidFD(pid: pid).releaseMemory()) { error in
            XCTAssertEqual((error as? SystemError)?.errno, EINVAL, "\(error)")
        }
        XCTAssertGreaterThanOrEqual(anonymousKiB(pid) ?? 0, 16 * 1024)
    }

    /// The killed child is put on one CPU with this thread, which holds
    /// that CPU at a real-time priority until the memory is counted: the
    /// child cannot run its own exit meanwhile, so whatever memory is gone
    /// was freed by the call.
    func testAKilledProcessLosesItsMemoryBeforeItRunsAgain() throws {
        let children = makeChildren()
        let pid = try spawnHolder(mib: 64, into: children)
        let me = Tracee.callingThreadID
        let cpus = try Scheduling.cpus(of: me)
        let attributes = try Scheduling.attributes(of: me)
        try Scheduling.setCPUs([cpus[0]], of: pid)
        try Scheduling.setCPUs([cpus[0]], of: me)
        defer { try? Scheduling.setCPUs(cpus, of: me) }
        var realTime = attributes
        realTime.policy = 1 // SCHED_FIFO
        realTime.priority = 1
        realTime.nice = 0
        let handle = try PidFD(pid: pid)
        let (released, left): (Result<Void, Error>, UInt64?)
        do {
            try Scheduling.setAttributes(realTime, of: me)
            defer { try? Scheduling.setAttributes(attributes, of: me) }
            kill(pid, SIGKILL)
            released = Result { try handle.releaseMemory() }
            left = anonymousKiB(pid)
        }
        XCTAssertNoThrow(try released.get())
        XCTAssertNotNil(left, "the killed child was gone before its memory was counted")
        XCTAssertLessThan(left ?? .max, 4096, "KiB of anonymous memory left to the killed child")
        XCTAssertNotNil(children.waitForExit(pid, timeout: 10))
    }
}

/// RssAnon of /proc/PID/status in KiB; nil once the process is gone.
func anonymousKiB(_ pid: pid_t) -> UInt64? {
    guard let text = try? ProcFile.text("/proc/\(pid)/status", pid: pid),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }) else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
}
