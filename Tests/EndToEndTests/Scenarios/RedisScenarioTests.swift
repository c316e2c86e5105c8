import Glibc
import XCTest

/// Debian's redis-server checkpointed in the middle of a BGSAVE: the server
/// and its forked save child, which shares the server's epoll instance but
/// has closed the listener that instance watches, and is half way through
/// writing the snapshot file. After the restore the child must finish the
/// file, the server must reap it and report the save a success, the file
/// must hold every key, and the server must go on answering.
final class RedisScenarioTests: EndToEndCase {
    static let server = "/usr/bin/redis-server"
    static let checker = "/usr/bin/redis-check-rdb"
    static let keys = 20_000

    func testSaveInProgressFinishesAfterRestore() throws {
        guard access(Self.server, X_OK) == 0, access(Self.checker, X_OK) == 0 else {
            throw HarnessError("redis-server is missing: install Debian's redis-server (scripts/install-deps.sh does)")
        }
        let dir = try scratch.newDirectory("redis")
        let socketPath = dir + "/redis.sock"
        // 20000 keys at 100 µs each: the save takes two seconds.
        let redis = try startProgram("redis", Self.server, [
            "--port", "0", "--unixsocket", socketPath, "--dir", dir, "--save", "", "--appendonly", "no",
            "--rdbcompression", "no", "--rdb-key-save-delay", "100",
        ], isReady: { $0.contains("ready to accept connections") })
        defer { try? stopTree(redis.pid) }

        let value = String(repeating: "v", count: 100)
        var fill: [UInt8] = []
        for i in 0..<Self.keys { fill += command(["SET", "key:\(i)", "\(value)\(i)"]) }
        XCTAssertEqual(try exchange(socketPath, fill, answerBytes: 5 * Self.keys), Array(repeating: "+OK\r\n", count: Self.keys).joined())
        XCTAssertEqual(try exchange(socketPath, command(["BGSAVE"]), answerBytes: 28), "+Background saving started\r\n")
        var child: pid_t?
        let saving = poll(timeout: 10, every: 0.01) {
            child = ProcessTable.children(of: redis.pid).first
            return child != nil
        }
        guard saving, let child else { throw HarnessError("no save child appeared\n\(redis.log.tail())") }

        let (image, pids) = try checkpointTree(redis)
        XCTAssertEqual(Set(pids), [redis.pid, child], "the server and its save child")
        let mark = redis.lineCount
        try restore(image, as: redis)
        try redis.waitFor("the save's end", from: mark, timeout: 30) { $0.contains("Background saving terminated") }
        XCTAssertTrue(redis.log.lines().dropFirst(mark).contains { $0.contains("Background saving terminated with success") }, redis.log.tail())
        XCTAssertTrue(redis.log.lines().dropFirst(mark).contains { $0.contains("\(child):C") && $0.contains("DB saved on disk") },
                      "the restored child finished the file\n\(redis.log.tail())")

        let check = try runCommand(Self.checker, [dir + "/dump.rdb"], outputPrefix: scratch.newPath("check-rdb"), timeout: 60)
        XCTAssertTrue(check.succeeded, "\(check)")
        XCTAssertTrue(check.stdout.contains("\(Self.keys) keys read"), "\(check)")
        let stored = "\(value)12345"
        let answer = "$\(stored.utf8.count)\r\n\(stored)\r\n"
        XCTAssertEqual(try exchange(socketPath, command(["GET", "key:12345"]), answerBytes: answer.utf8.count), answer)
        XCTAssertEqual(try exchange(socketPath, command(["DBSIZE"]), answerBytes: 8), ":\(Self.keys)\r\n")
    }

    /// A command in the Redis protocol.
    private func command(_ words: [String]) -> [UInt8] {
        var text = "*\(words.count)\r\n"
        for w in words { text += "$\(w.utf8.count)\r\n\(w)\r\n" }
        return Array(text.utf8)
    }

    /// Sends `bytes` on a new connection, reads `answerBytes` back, closes.
    private func exchange(_ path: String, _ bytes: [UInt8], answerBytes: Int) throws -> String {
        let socket = try TestSocket.unix(path)
        defer { socket.close() }
        try socket.send(bytes)
        return String(decoding: try socket.receive(atMost: answerBytes, untilEOF: false, timeout: 30), as: UTF8.self)
    }
}
