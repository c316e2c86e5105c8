import Foundation
import Glibc
import XCTest

/// Debian's nginx, a master and two worker processes (running as nobody)
/// sharing one listening socket on 127.0.0.1, checkpointed while idle and
/// restored: the workers must answer requests again, each answer naming a
/// worker of the original tree, and the master must still command its
/// workers: a reload (SIGHUP) must replace them with new ones, and a
/// graceful stop (SIGQUIT) must end the whole tree with status 0.
final class NginxScenarioTests: EndToEndCase {
    static let nginx = "/usr/sbin/nginx"

    func testNginxMasterAndWorkersServeAfterRestore() throws {
        try requirePrograms(Self.nginx, from: "Debian's nginx")
        // The workers run as nobody and must reach nothing in the prefix but
        // what the master opens for them; still, let them look up paths.
        let prefix = try openScratchDirectory("nginx")
        let port = try TestSocket.freeLoopbackPort()
        let config = prefix + "/nginx.conf"
        try writeWholeFile(config, Array(configuration(prefix: prefix, port: port).utf8))
        let errorLog = prefix + "/error.log"

        let master = try startProgram("nginx", Self.nginx, ["-p", prefix + "/", "-c", config, "-e", errorLog], isReady: nil)
        defer { try? stopTree(master.pid) }
        var workers: [pid_t] = []
        let started = poll(timeout: 10, every: 0.05) {
            workers = ProcessTable.descendants(of: master.pid)
            return workers.count == 2 && (try? get(port: port, path: "/probe")) != nil
        }
        guard started else {
            throw HarnessError("nginx did not start serving on 127.0.0.1:\(port) with two workers (workers: \(workers))\n"
                + "--- error.log:\n\(readTextFile(errorLog) ?? "")\(master.stderrTail())")
        }
        for n in 0..<10 {
            let answer = try get(port: port, path: "/before/\(n)")
            XCTAssertTrue(workers.contains(answer.worker), "answered by \(answer.worker), not one of the workers \(workers)")
        }
        try waitUntilNoTCPConnection(port: port)
        let before = treeIdentity(master.pid)
        XCTAssertEqual(before.count, 3, "the master and two workers: \(before)")

        let (image, pids) = try checkpointTree(master)
        XCTAssertEqual(pids.sorted(), before.map(\.pid).sorted())
        try restore(image, as: master)
        XCTAssertEqual(treeIdentity(master.pid), before, "the tree after the restore")
        for worker in workers {
            XCTAssertEqual(ProcessTable.statusField(worker, "Uid"), "65534\t65534\t65534\t65534", "worker \(worker) runs as nobody")
        }

        var answeredBy: Set<pid_t> = []
        for n in 0..<40 {
            let answer = try get(port: port, path: "/after/\(n)")
            XCTAssertTrue(workers.contains(answer.worker), "answered by \(answer.worker), not one of the workers \(workers)")
            answeredBy.insert(answer.worker)
        }
        XCTAssertFalse(answeredBy.isEmpty)

        // A reload: the restored master reads its configuration again,
        // forks two new workers and has the old ones finish and exit.
        try master.signal(SIGHUP)
        var fresh: [pid_t] = []
        let reloaded = poll(timeout: 10, every: 0.05) {
            fresh = ProcessTable.descendants(of: master.pid).filter { ProcessTable.isAlive($0) }
            return fresh.count == 2 && Set(fresh).isDisjoint(with: workers)
        }
        guard reloaded else {
            throw HarnessError("after SIGHUP the restored master has workers \(fresh), expected two new ones replacing \(workers)\n"
                + "--- error.log:\n\(readTextFile(errorLog) ?? "")")
        }
        for n in 0..<10 {
            let answer = try get(port: port, path: "/reloaded/\(n)")
            XCTAssertTrue(fresh.contains(answer.worker), "answered by \(answer.worker), not one of the new workers \(fresh)")
        }

        // A graceful stop goes through the master's signal handling, its
        // channels to the workers and its reaping of them.
        try assertStopsCleanly(master, on: SIGQUIT, within: 10) {
            "tree: \(treeIdentity(master.pid))\n--- error.log:\n\(readTextFile(errorLog) ?? "")"
        }
        try reapAll(pids + fresh)
        let log = readTextFile(errorLog) ?? ""
        let serious = log.split(separator: "\n").filter { line in
            ["[alert]", "[emerg]", "[crit]", "exited on signal"].contains { line.contains($0) }
        }
        XCTAssertEqual(serious, [], "nginx's error log:\n\(log)")
    }

    private func configuration(prefix: String, port: UInt16) -> String {
        """
        daemon off;
        master_process on;
        worker_processes 2;
        user nobody nogroup;
        pid \(prefix)/nginx.pid;
        error_log \(prefix)/error.log info;
        events {
            worker_connections 64;
        }
        http {
            access_log off;
            client_body_temp_path \(prefix)/client_body;
            proxy_temp_path \(prefix)/proxy;
            fastcgi_temp_path \(prefix)/fastcgi;
            uwsgi_temp_path \(prefix)/uwsgi;
            scgi_temp_path \(prefix)/scgi;
            server {
                listen 127.0.0.1:\(port);
                location / {
                    default_type text/plain;
                    return 200 "worker $pid uri $uri\\n";
                }
            }
        }

        """
    }

    /// The worker that answered a GET, from the body it sent.
    private func get(port: UInt16, path: String) throws -> (worker: pid_t, body: String) {
        let body = try httpGet(port: port, path: path)
        let words = body.split(separator: " ")
        guard words.count == 4, words[0] == "worker", let worker = pid_t(words[1]),
              words[3].trimmingCharacters(in: .newlines) == path else {
            throw HarnessError("GET \(path): unexpected body \(body.debugDescription)")
        }
        return (worker, body)
    }
}
