import Glibc
import XCTest

/// Debian's PHP-FPM: a master as root and a static pool of two workers as
/// www-data on a TCP listener. After the restore the workers must run PHP
/// for FastCGI requests; a reload (SIGUSR2) must have the master execute
/// itself again, handing the listener on through its environment, and
/// start new workers; SIGQUIT must end the tree with status 0.
final class PHPFPMScenarioTests: EndToEndCase {
    static let fpm = "/usr/sbin/php-fpm8.2"

    func testPoolRunsPHPReloadsAndStopsAfterRestore() throws {
        try requirePrograms(Self.fpm, from: "Debian's php-fpm")
        let dir = try openScratchDirectory("php-fpm")
        let script = dir + "/answer.php"
        try writeWholeFile(script, Array(#"<?php echo "php says ", 6 * 7, " from ", getmypid(), "\n";"#.utf8))
        chmod(script, 0o644)
        let port = try TestSocket.freeLoopbackPort()
        try writeWholeFile(dir + "/fpm.conf", Array("""
            [global]
            pid = \(dir)/fpm.pid
            error_log = \(dir)/error.log
            daemonize = no
            [www]
            user = www-data
            group = www-data
            listen = 127.0.0.1:\(port)
            pm = static
            pm.max_children = 2

            """.utf8))
        let errorLog = dir + "/error.log"

        let master = try startProgram("php-fpm", Self.fpm, ["-y", dir + "/fpm.conf", "-F"], isReady: nil)
        defer { try? stopTree(master.pid) }
        var workers: [pid_t] = []
        let serving = poll(timeout: 15, every: 0.05) {
            workers = ProcessTable.children(of: master.pid)
            return workers.count == 2 && (try? answeringWorker(port: port, script: script)) != nil
        }
        guard serving else { throw HarnessError("php-fpm did not answer on 127.0.0.1:\(port)\n\(readTextFile(errorLog) ?? "")") }
        try waitUntilNoTCPConnection(port: port)

        let (image, pids) = try checkpointTree(master)
        XCTAssertEqual(Set(pids), Set([master.pid] + workers))
        try restore(image, as: master)
        for _ in 0..<10 {
            let worker = try answeringWorker(port: port, script: script)
            XCTAssertTrue(workers.contains(worker), "answered by \(worker), not one of the workers \(workers)")
        }

        try master.signal(SIGUSR2)
        var fresh: [pid_t] = []
        let reloaded = poll(timeout: 15, every: 0.05) {
            fresh = ProcessTable.children(of: master.pid).filter { ProcessTable.isAlive($0) && !workers.contains($0) }
            guard fresh.count == 2, let worker = try? answeringWorker(port: port, script: script) else { return false }
            return fresh.contains(worker)
        }
        guard reloaded else { throw HarnessError("after SIGUSR2 the restored master has no new workers answering\n\(readTextFile(errorLog) ?? "")") }

        try assertStopsCleanly(master, on: SIGQUIT, within: 15) { readTextFile(errorLog) ?? "" }
        try reapAll(pids + fresh)
        let log = readTextFile(errorLog) ?? ""
        XCTAssertTrue(log.contains("exiting, bye-bye!"), log)
        XCTAssertFalse(log.contains("ERROR:") || log.contains("ALERT:"), log)
    }

    /// The worker that ran the script for one FastCGI request.
    private func answeringWorker(port: UInt16, script: String) throws -> pid_t {
        let body = try fastCGI(port: port, script: script)
        let words = body.split(separator: " ")
        guard words.count == 5, words[0] == "php", words[2] == "42", let worker = pid_t(words[4].trimmingCharacters(in: .newlines)) else {
            throw HarnessError("FastCGI request for \(script): unexpected answer \(body.debugDescription)")
        }
        return worker
    }

    /// One FastCGI request (BEGIN_REQUEST as a responder, PARAMS, empty
    /// STDIN) and the body of what the script wrote (STDOUT records).
    private func fastCGI(port: UInt16, script: String) throws -> String {
        func record(_ type: UInt8, _ content: [UInt8]) -> [UInt8] {
            [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xff), 0, 0] + content
        }
        func pair(_ name: String, _ value: String) -> [UInt8] {
            [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
        }
        let params = pair("SCRIPT_FILENAME", script) + pair("REQUEST_METHOD", "GET") + pair("SERVER_PROTOCOL", "HTTP/1.0")
        let socket = try TestSocket.tcp(port: port)
        defer { socket.close() }
        try socket.send(record(1, [0, 1, 0, 0, 0, 0, 0, 0]) + record(4, params) + record(4, []) + record(5, []))
        let reply = try socket.receive(untilEOF: true, timeout: 10)
        var output: [UInt8] = []
        var i = 0
        while i + 8 <= reply.count {
            let length = Int(reply[i + 4]) << 8 | Int(reply[i + 5])
            if reply[i + 1] == 6 { output += reply[(i + 8)..<min(reply.count, i + 8 + length)] }
            i += 8 + length + Int(reply[i + 6])
        }
        let text = String(decoding: output, as: UTF8.self)
        return text.components(separatedBy: "\r\n\r\n").last ?? text
    }
}
