import Glibc
import XCTest

/// An epoll server process and four client processes over stream and
/// seqpacket socketpairs and a pair of pipes, one channel watched
/// edge-triggered, requests and replies in flight at the dump. After the
/// restore every client must keep being served in order: a lost event
/// stalls a client, a lost or repeated message fails a check.
final class EpollServerScenarioTests: EndToEndCase {
    func testEpollServerKeepsServingEveryClientAfterRestore() throws {
        let server = try startFixture("epollserver")
        defer { try? stopTree(server.pid) }
        let roles = (0..<4).flatMap { ["server \($0)", "client \($0)"] }
        for role in roles {
            try server.waitFor(role + " at 500", timeout: 10) { progress(in: $0, of: role) >= 500 }
        }
        let before = treeIdentity(server.pid)
        XCTAssertEqual(before.count, 5, "the server and four clients: \(before)")

        let (image, pids) = try checkpointTree(server)
        XCTAssertEqual(pids.sorted(), before.map(\.pid).sorted())
        let contents = ImageContents(directory: image)
        let inFlight = try contents.unixSocketQueues().values.reduce(0, +) + contents.pipeBytes()
        XCTAssertGreaterThan(inFlight, 0, "messages queued in the channels at the dump")

        let mark = server.lineCount
        let reached = roles.map { progressCounts(server, of: $0).last ?? 0 }
        try restore(image, as: server)
        XCTAssertEqual(treeIdentity(server.pid), before, "the tree after the restore")
        for (role, last) in zip(roles, reached) {
            try server.waitFor("\(role) at \(last + 1000)", from: mark, timeout: 10) { progress(in: $0, of: role) >= last + 1000 }
        }
        for role in roles {
            let counts = progressCounts(server, of: role)
            XCTAssertEqual(counts, Array(stride(from: 500, through: counts.count * 500, by: 500)), "\(role)'s progress")
        }
        XCTAssertEqual(treeIdentity(server.pid), before, "all five processes still run")
        try stopTree(server.pid)
        assertNoFailures(server)
    }
}

