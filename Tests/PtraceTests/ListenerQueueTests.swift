import Glibc
import Ptrace
import XCTest

/// Connections a listener has not accepted yet are what the dump refuses
/// a listener for: both ways of seeing them must count them.
final class ListenerQueueTests: XCTestCase {
    func testTCPInfoShowsAcceptQueueAndBacklog() throws {
        let listener = try Sockets.create(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        defer { close(listener) }
        try Sockets.bind(listener, .inet4(address: [127, 0, 0, 1], port: 0))
        try Sockets.listen(listener, backlog: 9)
        var info = try TCPInfo.read(listener)
        XCTAssertEqual(info.state, TCPInfo.listen)
        XCTAssertEqual(info.backlog, 9)
        XCTAssertEqual(info.acceptQueue, 0)

        let client = try Sockets.create(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        defer { close(client) }
        XCTAssertEqual(Sockets.connect(client, try Sockets.localAddress(listener)), 0)
        info = try TCPInfo.read(listener)
        XCTAssertEqual(info.acceptQueue, 1)
        XCTAssertEqual(try TCPInfo.read(client).stateName, "ESTABLISHED")
    }

    func testUnixDiagShowsPendingConnections() throws {
        let name = SocketAddress.unixAbstract(Array("crtool-listener-test-\(getpid())".utf8))
        let listener = try Sockets.create(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue))
        defer { close(listener) }
        try Sockets.bind(listener, name)
        try Sockets.listen(listener, backlog: 6)
        let client = try Sockets.create(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue))
        defer { close(client) }
        XCTAssertEqual(Sockets.connect(client, name), 0)

        var st = stat()
        XCTAssertEqual(fstat(listener, &st), 0)
        let diag = try UnixSocketDiag.query(inode: UInt64(st.st_ino))
        XCTAssertTrue(diag.isListening)
        XCTAssertEqual(diag.sendQueue, 6, "a listener's backlog")
        XCTAssertEqual(diag.receiveQueue, 1)
        XCTAssertEqual(diag.pendingConnections.count, 1)

        // The client's peer is the embryo socket the listener holds: no inode yet.
        XCTAssertEqual(fstat(client, &st), 0)
        XCTAssertEqual(try UnixSocketDiag.query(inode: UInt64(st.st_ino)).peer, 0)
    }
}
