import Glibc
import XCTest

/// Node.js: V8's heap and JIT code, libuv's event loop (epoll, eventfd,
/// signal pipes), a worker thread posting to the main thread, a TCP
/// listener and a SIGUSR2 handler. After the restore the server must
/// answer with its hit count going on and its table intact, the timer and
/// the worker must carry on from where they were, and the handler must
/// still catch SIGUSR2.
final class NodeScenarioTests: EndToEndCase {
    func testNodeServerCarriesOnAfterRestore() throws {
        let candidates: [String] = ["/usr/bin/node", "/usr/bin/nodejs"]
        guard let node = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw HarnessError("node is missing: install Debian's nodejs (scripts/install-deps.sh does)")
        }
        let port = try TestSocket.freeLoopbackPort()
        let server = try startProgram("node", node, [BuildProducts.packageRoot + "/fixtures/node/server.js", String(port)])
        defer { try? stopTree(server.pid) }
        for n in 1...3 {
            XCTAssertEqual(try httpGet(port: port, path: "/before"), "hits \(n) checksum ok\n")
        }
        try server.waitFor("worker", atLeast: 30)
        try server.waitFor("tick", atLeast: 10)

        let (_, mark) = try roundTrip(server)
        for n in 4...6 {
            XCTAssertEqual(try httpGet(port: port, path: "/after"), "hits \(n) checksum ok\n")
        }
        try assertNextTick(server, after: mark)
        try server.waitForMore("worker", 20, after: mark)
        try server.signal(SIGUSR2)
        try server.waitFor(line: "usr2 1", from: mark)
        assertNoFailures(server)
    }
}
