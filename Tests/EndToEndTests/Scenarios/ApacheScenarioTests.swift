import Glibc
import XCTest

/// Debian's Apache httpd with the event MPM: a parent running as root and
/// two children of 26 threads each running as www-data, sharing the
/// scoreboard in shared memory, the listener and the pipe through which
/// the parent tells them to stop. After the restore the children must
/// answer; a graceful restart (SIGUSR1) must replace them with new ones
/// that answer too; SIGTERM must end the tree with status 0.
final class ApacheScenarioTests: EndToEndCase {
    static let httpd = "/usr/sbin/apache2"
    static let modules = "/usr/lib/apache2/modules"

    func testEventMPMServesRestartsAndStopsAfterRestore() throws {
        try requirePrograms(Self.httpd, from: "Debian's apache2")
        let dir = try openScratchDirectory("apache")
        let page = "answered by a restored Apache\n"
        try writeWholeFile(dir + "/index.html", Array(page.utf8))
        chmod(dir + "/index.html", 0o644)
        let port = try TestSocket.freeLoopbackPort()
        try writeWholeFile(dir + "/httpd.conf", Array(configuration(dir: dir, port: port).utf8))
        let errorLog = dir + "/error.log"

        let parent = try startProgram("apache", Self.httpd, ["-f", dir + "/httpd.conf", "-DFOREGROUND"], isReady: nil)
        defer { try? stopTree(parent.pid) }
        var children: [pid_t] = []
        let serving = poll(timeout: 15, every: 0.05) {
            children = ProcessTable.children(of: parent.pid)
            return children.count == 2 && (try? httpGet(port: port, path: "/")) == page
        }
        guard serving else { throw HarnessError("apache did not serve on 127.0.0.1:\(port)\n\(readTextFile(errorLog) ?? "")") }
        try waitUntilNoTCPConnection(port: port)
        let before = treeIdentity(parent.pid)

        let (image, pids) = try checkpointTree(parent)
        XCTAssertEqual(Set(pids), Set(before.map(\.pid)))
        try restore(image, as: parent)
        XCTAssertEqual(treeIdentity(parent.pid), before, "the tree after the restore")
        for child in children {
            XCTAssertEqual(ProcessTable.statusField(child, "Uid")?.split(separator: "\t").first, "33", "child \(child) runs as www-data")
        }
        for n in 0..<20 {
            XCTAssertEqual(try httpGet(port: port, path: "/?after=\(n)"), page)
        }

        try parent.signal(SIGUSR1)
        var fresh: [pid_t] = []
        let restarted = poll(timeout: 15, every: 0.05) {
            fresh = ProcessTable.children(of: parent.pid).filter { ProcessTable.isAlive($0) && !children.contains($0) }
            return fresh.count == 2 && (try? httpGet(port: port, path: "/?restarted")) == page
        }
        guard restarted else { throw HarnessError("after SIGUSR1 the restored parent has no new children answering\n\(readTextFile(errorLog) ?? "")") }

        try assertStopsCleanly(parent, on: SIGTERM, within: 30) { readTextFile(errorLog) ?? "" }
        try reapAll(pids + fresh)
        let log = readTextFile(errorLog) ?? ""
        XCTAssertTrue(log.contains("caught SIGTERM, shutting down"), log)
        XCTAssertFalse(log.contains(":error]") || log.contains(":crit]") || log.contains(":emerg]") || log.contains(":alert]"), log)
    }

    private func configuration(dir: String, port: UInt16) -> String {
        """
        ServerRoot "/etc/apache2"
        PidFile \(dir)/httpd.pid
        Listen 127.0.0.1:\(port)
        LoadModule mpm_event_module \(Self.modules)/mod_mpm_event.so
        LoadModule authz_core_module \(Self.modules)/mod_authz_core.so
        LoadModule dir_module \(Self.modules)/mod_dir.so
        User www-data
        Group www-data
        ServerName localhost
        DocumentRoot "\(dir)"
        ErrorLog \(dir)/error.log
        LogLevel notice
        <Directory "\(dir)">
          Require all granted
        </Directory>
        StartServers 2
        KeepAlive Off

        """
    }
}
