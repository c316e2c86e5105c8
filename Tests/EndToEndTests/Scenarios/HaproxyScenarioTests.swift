import Glibc
import XCTest

/// Debian's HAProxy in master-worker mode: a master and a worker of two
/// threads, each thread with a watchdog timer on its own CPU-time clock,
/// the worker holding the listener and a socket pair to the master. After
/// the restore the worker must answer; a reload (SIGUSR2) must have the
/// master execute itself again and hand the listener to a new worker over
/// the restored socket pair; SIGTERM must end the tree with status 0.
final class HaproxyScenarioTests: EndToEndCase {
    static let haproxy = "/usr/sbin/haproxy"

    func testMasterWorkerServesReloadsAndStopsAfterRestore() throws {
        try requirePrograms(Self.haproxy, from: "Debian's haproxy")
        let port = try TestSocket.freeLoopbackPort()
        let config = scratch.newPath("haproxy.cfg")
        try writeWholeFile(config, Array(configuration(port: port).utf8))
        // Its notices on stdout, the fixture's log.
        let master = try startProgram("haproxy", "/bin/sh", ["-c", "exec \(Self.haproxy) -W -db -f \(config) 2>&1"],
                                      isReady: { $0.contains("Loading success") })
        defer { try? stopTree(master.pid) }
        let worker = try XCTUnwrap(ProcessTable.children(of: master.pid).first, "no worker")
        XCTAssertEqual(try answeringWorker(port: port, path: "/before"), worker)
        XCTAssertEqual(cpuClockTimers(worker), 2, "a watchdog timer per thread:\n\(readTextFile("/proc/\(worker)/timers") ?? "")")
        try waitUntilNoTCPConnection(port: port)

        let (image, pids) = try checkpointTree(master)
        XCTAssertEqual(Set(pids), [master.pid, worker])
        let mark = master.lineCount
        try restore(image, as: master)
        XCTAssertEqual(cpuClockTimers(worker), 2)
        for n in 0..<10 {
            XCTAssertEqual(try answeringWorker(port: port, path: "/after/\(n)"), worker)
        }

        let reloading = master.lineCount
        try master.signal(SIGUSR2)
        var fresh: pid_t?
        let reloaded = poll(timeout: 15, every: 0.05) {
            fresh = ProcessTable.children(of: master.pid).first { $0 != worker && ProcessTable.isAlive($0) }
            guard let fresh, (try? answeringWorker(port: port, path: "/probe")) == fresh else { return false }
            return !ProcessTable.isAlive(worker)
        }
        guard reloaded, let fresh else {
            throw HarnessError("after SIGUSR2 the restored master has no new worker answering in place of \(worker)\n\(master.log.tail())\(master.stderrTail())")
        }
        XCTAssertEqual(try answeringWorker(port: port, path: "/reloaded"), fresh)
        // The master executed itself again; until it catches SIGTERM once
        // more (a while after it says "Loading success"), SIGTERM kills it,
        // with or without a restore.
        try master.waitFor("the reloaded master's \"Loading success\"", from: reloading) { $0.contains("Loading success") }
        let catching = poll(timeout: 10, every: 0.01) {
            UInt64(ProcessTable.statusField(master.pid, "SigCgt") ?? "", radix: 16).map { $0 & (1 << (UInt64(SIGTERM) - 1)) != 0 } ?? false
        }
        XCTAssertTrue(catching, "the reloaded master does not catch SIGTERM")

        try assertStopsCleanly(master, on: SIGTERM, within: 15) { master.log.tail() }
        try reapAll(pids + [fresh])
        let after = master.log.lines().dropFirst(mark)
        XCTAssertTrue(after.contains { $0.contains("All workers exited") }, master.log.tail())
        XCTAssertFalse(after.contains { $0.contains("[ALERT]") && !$0.contains("exited with code 143 (Terminated)") }, master.log.tail())
    }

    private func configuration(port: UInt16) -> String {
        """
        global
          nbthread 2
        defaults
          mode http
          timeout connect 1s
          timeout client 5s
          timeout server 5s
        frontend answer
          bind 127.0.0.1:\(port)
          http-request return status 200 content-type text/plain lf-string "worker %pid uri %[path]\\n"

        """
    }

    private func answeringWorker(port: UInt16, path: String) throws -> pid_t {
        let body = try httpGet(port: port, path: path)
        let words = body.split(separator: " ")
        guard words.count == 4, words[0] == "worker", let worker = pid_t(words[1]), words[3].trimmingCharacters(in: .newlines) == path else {
            throw HarnessError("GET \(path): unexpected body \(body.debugDescription)")
        }
        return worker
    }

    /// Timers of the process on a thread's CPU-time clock (negative ids).
    private func cpuClockTimers(_ pid: pid_t) -> Int {
        (readTextFile("/proc/\(pid)/timers") ?? "").split(separator: "\n").filter { $0.hasPrefix("ClockID: -") }.count
    }
}
