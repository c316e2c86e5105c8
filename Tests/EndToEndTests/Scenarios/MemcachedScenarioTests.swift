import Glibc
import XCTest

/// Debian's memcached: ten threads (a listener, four workers each with its
/// own epoll instance and eventfd, the others keeping the cache), with
/// pipes between them. A client connection of the test is held across a
/// dump with --tcp-established, a kill and a restore; on it the items
/// stored before the dump are found and a counter goes on from its value,
/// and a new connection, which the listener hands to a worker, finds them
/// too.
final class MemcachedScenarioTests: EndToEndCase {
    static let server = "/usr/bin/memcached"
    static let items = 2000

    func testItemsAndAClientConnectionCarryOnAcrossTheRestore() throws {
        try requirePrograms(Self.server, from: "Debian's memcached")
        let port = try TestSocket.freeLoopbackPort()
        let memcached = try startProgram("memcached", Self.server, [
            "-u", "root", "-l", "127.0.0.1", "-p", "\(port)", "-U", "0", "-t", "4", "-m", "64",
        ], isReady: nil)
        defer { try? stopTree(memcached.pid) }
        let listening = poll(timeout: 15) {
            guard let probe = try? TestSocket.tcp(port: port) else { return false }
            probe.close()
            return true
        }
        guard listening else { throw HarnessError("memcached did not listen on \(port)\n\(memcached.stderrTail())") }

        let client = try TestSocket.tcp(port: port)
        defer { client.close() }
        var stores = ""
        for i in 0..<Self.items { stores += "set item:\(i) 0 0 \(value(i).utf8.count)\r\n\(value(i))\r\n" }
        try exchange(client, stores + "set counter 0 0 2\r\n41\r\n", answer: String(repeating: "STORED\r\n", count: Self.items + 1))
        try exchange(client, "incr counter 1\r\n", answer: "42\r\n")
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(memcached.pid)/task").count

        try roundTrip(memcached, options: ["--tcp-established"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(memcached.pid)/task").count, threads, "every thread is back")
        try exchange(client, "incr counter 1\r\n", answer: "43\r\n", what: "the held connection goes on")
        try exchange(client, get(1234), answer: found(1234))

        let again = try TestSocket.tcp(port: port)
        defer { again.close() }
        try exchange(again, get(0) + get(Self.items - 1), answer: found(0) + found(Self.items - 1), what: "a new connection")
        try exchange(again, "incr counter 10\r\n", answer: "53\r\n")
        try assertStopsCleanly(memcached, on: SIGTERM, within: 20) { memcached.stderrTail() }
    }

    private func value(_ i: Int) -> String { "value \(i) " + String(repeating: "m", count: i % 300) }
    private func get(_ i: Int) -> String { "get item:\(i)\r\n" }
    private func found(_ i: Int) -> String { "VALUE item:\(i) 0 \(value(i).utf8.count)\r\n\(value(i))\r\nEND\r\n" }

    /// Sends `request` on `socket` and fails unless the reply is `answer`.
    private func exchange(_ socket: TestSocket, _ request: String, answer: String, what: String = "the reply",
                          file: StaticString = #filePath, line: UInt = #line) throws {
        try socket.send(Array(request.utf8))
        let reply = String(decoding: try socket.receive(atMost: answer.utf8.count, untilEOF: false, timeout: 20), as: UTF8.self)
        if reply != answer {
            XCTFail("\(what): \(reply.prefix(300).debugDescription), expected \(answer.prefix(300).debugDescription)", file: file, line: line)
        }
    }
}
