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
        try requirePrograms(Self.server, Self.checker, from: "Debian's redis-server")
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

    /// Two clients of the test, connected over TCP, whose state lives in
    /// their connections on the server: one inside MULTI with a SET
    /// queued, one blocked in BLPOP. The server is dumped with
    /// --tcp-established, killed and restored; on the same connections,
    /// EXEC runs the queued SET and a push wakes the blocked client.
    func testClientConnectionsKeepTheirSessionsAcrossTheRestore() throws {
        try requirePrograms(Self.server, from: "Debian's redis-server")
        let dir = try scratch.newDirectory("redis")
        let port = try TestSocket.freeLoopbackPort()
        let redis = try startProgram("redis", Self.server, [
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
        ], isReady: { $0.lowercased().contains("ready to accept connections") })
        defer { try? stopTree(redis.pid) }

        let transaction = try TestSocket.tcp(port: port)
        defer { transaction.close() }
        let blocked = try TestSocket.tcp(port: port)
        defer { blocked.close() }
        try transaction.send(command(["MULTI"]) + command(["SET", "greeting", "carried over"]))
        XCTAssertEqual(try answer(transaction, bytes: 14), "+OK\r\n+QUEUED\r\n")
        try blocked.send(command(["BLPOP", "jobs", "0"]))
        XCTAssertTrue(poll(timeout: 10) { (try? self.ask(port, ["INFO", "clients"], containing: "blocked_clients:1")) == true },
                      "the BLPOP client is blocked")

        try roundTrip(redis, options: ["--tcp-established"])

        try transaction.send(command(["EXEC"]))
        XCTAssertEqual(try answer(transaction, bytes: 9), "*1\r\n+OK\r\n")
        XCTAssertTrue(try ask(port, ["RPUSH", "jobs", "first"], containing: ":"))
        XCTAssertEqual(try answer(blocked, bytes: 25), "*2\r\n$4\r\njobs\r\n$5\r\nfirst\r\n")
        try transaction.send(command(["GET", "greeting"]))
        XCTAssertEqual(try answer(transaction, bytes: 19), "$12\r\ncarried over\r\n")
    }

    private func answer(_ socket: TestSocket, bytes: Int) throws -> String {
        String(decoding: try socket.receive(atMost: bytes, untilEOF: false, timeout: 10), as: UTF8.self)
    }

    /// One command on a connection of its own; whether the answer holds `text`.
    private func ask(_ port: UInt16, _ words: [String], containing text: String) throws -> Bool {
        let socket = try TestSocket.tcp(port: port)
        defer { socket.close() }
        try socket.send(command(words))
        var p = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&p, 1, 5000) == 1 else { return false }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = recv(socket.fd, &buffer, buffer.count, 0)
        return n > 0 && String(decoding: buffer[0..<n], as: UTF8.self).contains(text)
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
