import Glibc
import XCTest

/// A server listening on a unix socket path and three client processes,
/// its children, with requests and replies queued in both directions of
/// every connection at the dump. Every message carries a sequence number
/// and a check word that the receiver verifies, so after the restore any
/// message lost, repeated, reordered or damaged in a queue is a failure;
/// and the listener must still take new connections on its path.
final class UnixServerScenarioTests: EndToEndCase {
    func testServerAndClientsCarryOnWithQueuedMessagesAndTheListenerStillAccepts() throws {
        let dir = try scratch.newDirectory("sock")
        let server = try startFixture("unixserver", [dir])
        defer { try? stopTree(server.pid) }
        let roles = (0..<3).flatMap { ["server \($0)", "client \($0)"] }
        for role in roles {
            try server.waitFor(role + " at 500", timeout: 10) { progress(in: $0, of: role) >= 500 }
        }
        let before = treeIdentity(server.pid)
        XCTAssertEqual(before.count, 4, "the server and three clients: \(before)")

        let (image, pids) = try checkpointTree(server)
        XCTAssertEqual(pids.sorted(), before.map(\.pid).sorted())
        // Each of the six connected sockets holds at least 35 messages of
        // 32 bytes: requests at the server, replies at the clients.
        let queues = try ImageContents(directory: image).unixSocketQueues()
        let busy = queues.values.filter { $0 >= 35 * 32 }
        XCTAssertEqual(busy.count, 6, "sockets with messages queued at the dump (bytes by socket inode: \(queues))")

        let mark = server.lineCount
        let reached = roles.map { progressCounts(server, of: $0).last ?? 0 }
        try restore(image, as: server)
        XCTAssertEqual(treeIdentity(server.pid), before, "the tree after the restore")
        for (role, last) in zip(roles, reached) {
            try server.waitFor("\(role) at \(last + 1000)", from: mark, timeout: 10) { progress(in: $0, of: role) >= last + 1000 }
        }

        // A newcomer from outside the tree is served on the same path.
        for visit in 1...2 {
            let socket = try TestSocket.unix(dir + "/server.sock")
            defer { socket.close() }
            try socket.send(Message(magic: Message.request, client: 99, seq: UInt64(visit * 7), value: 0).bytes)
            let reply = try socket.receive(untilEOF: true, timeout: 5)
            XCTAssertEqual(reply, Message(magic: Message.reply, client: 99, seq: UInt64(visit * 7),
                                          value: Message.replyValue(client: 99, seq: UInt64(visit * 7))).bytes,
                           "the answer to an outside request after the restore")
            try server.waitFor(line: "visitor \(visit)", from: mark, timeout: 5)
        }

        for role in roles {
            let counts = progressCounts(server, of: role)
            XCTAssertEqual(counts, Array(stride(from: 500, through: counts.count * 500, by: 500)), "\(role)'s progress")
        }
        XCTAssertEqual(treeIdentity(server.pid), before, "all four processes still run")
        try stopTree(server.pid)
        assertNoFailures(server)
    }
}


/// The fixture's 32-byte message, built here the way the fixture builds it.
private struct Message {
    static let request: UInt32 = 0x5245_5155
    static let reply: UInt32 = 0x5245_504c

    var magic: UInt32
    var client: UInt32
    var seq: UInt64
    var value: UInt64

    static func replyValue(client: UInt32, seq: UInt64) -> UInt64 {
        (seq ^ 0x5555_aaaa_5555_aaaa) &* 3 &+ UInt64(client) &* 7
    }

    var check: UInt64 {
        ((UInt64(magic) &* 31 &+ UInt64(client)) &* 0x100_0000_01b3) ^ (seq &* 17) ^ value
    }

    var bytes: [UInt8] {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        return le(magic) + le(client) + le(seq) + le(value) + le(check)
    }
}
