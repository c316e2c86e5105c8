import Glibc
import Ptrace
import XCTest

/// Socket addresses built as bytes must be what the kernel takes, and read
/// back from what getsockname gives.
final class SocketAddressTests: XCTestCase {
    func testRoundTripThroughBytes() throws {
        let addresses: [SocketAddress] = [
            .unnamed,
            .unixPath("/run/some.sock"),
            .unixAbstract([0x61, 0, 0x62]),
            .inet4(address: [127, 0, 0, 1], port: 8080),
            .inet6(address: [UInt8](repeating: 0, count: 15) + [1], port: 443, flowInfo: 0, scopeID: 0),
            .netlink(portID: 0xfffff123, groups: 0x10),
        ]
        for a in addresses {
            XCTAssertEqual(try SocketAddress(bytes: a.bytes), a, "\(a)")
        }
    }

    func testTextForms() throws {
        XCTAssertEqual(try SocketAddress.inet(host: "127.0.0.1", port: 80).description, "127.0.0.1:80")
        XCTAssertEqual(try SocketAddress.inet(host: "::1", port: 80).description, "[::1]:80")
        XCTAssertThrowsError(try SocketAddress.inet(host: "not an address", port: 1))
    }

    /// A netlink socket bound in this process reads back its port id and
    /// first groups, and /proc lists it with an empty queue.
    func testBoundNetlinkSocketReadsBack() throws {
        let fd = try Sockets.create(family: AF_NETLINK, type: Int32(SOCK_RAW.rawValue), protocol: 0)
        defer { close(fd) }
        let port = UInt32(bitPattern: 0x4000_0000 | Int32(getpid()))
        try Sockets.bind(fd, .netlink(portID: port, groups: 0x10))
        XCTAssertEqual(try Sockets.localAddress(fd), .netlink(portID: port, groups: 0x10))
        let row = try XCTUnwrap(try NetlinkTable.read(pid: getpid()).first { $0.inode == (try? inode(of: fd)) })
        XCTAssertEqual(row.portID, port)
        XCTAssertEqual(row.groups, 0x10)
        XCTAssertEqual(row.protocolNumber, 0)
        XCTAssertEqual(row.receiveMemory, 0)
        XCTAssertFalse(row.dumpRunning)
    }

    /// A socket bound in this process reads back the same through getsockname.
    func testBoundUnixSocketsReadBack() throws {
        let abstract = SocketAddress.unixAbstract(Array("crtool-test-\(getpid())".utf8))
        let fd = try Sockets.create(family: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(fd) }
        try Sockets.bind(fd, abstract)
        XCTAssertEqual(try Sockets.localAddress(fd), abstract)
        XCTAssertNil(try Sockets.peerAddress(fd))

        let diag = try UnixSocketDiag.query(inode: try inode(of: fd))
        XCTAssertEqual(diag.name, abstract)
        XCTAssertEqual(diag.type, Int32(SOCK_DGRAM.rawValue))
        XCTAssertNil(diag.peer)
    }

    /// What the dump reads of a socketpair: each end's peer, and the
    /// queued messages, peeked and left in place.
    func testPairPeersAndQueuedMessages() throws {
        let (a, b) = try Sockets.pair(type: Int32(SOCK_SEQPACKET.rawValue))
        defer { close(a); close(b) }
        for message in ["one", "", "three"] {
            _ = Sockets.send(a, Array(message.utf8), flags: 0)
        }
        let diag = try UnixSocketDiag.query(inode: try inode(of: b))
        XCTAssertEqual(diag.peer.map { UInt64($0) }, try inode(of: a))
        let peeked = try SocketQueue.peekMessages(b, endsAtEmpty: false)
        XCTAssertEqual(peeked.map { String(decoding: $0, as: UTF8.self) }, ["one", "", "three"])
        XCTAssertEqual(try Sockets.intOption(b, level: SOL_SOCKET, name: SO_PEEK_OFF), -1, "the peek offset is put back")
        // The kernel marks an empty message as seen once it was peeked at,
        // and a peek with an offset passes over it from then on: a second
        // peek misses it. Reading still delivers every message.
        XCTAssertEqual(try SocketQueue.peekMessages(b, endsAtEmpty: false).count, 2)
        var buffer = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual([3, 0, 5].map { _ in recv(b, &buffer, buffer.count, Int32(MSG_DONTWAIT)) }, [3, 0, 5])
    }

    private func inode(of fd: Int32) throws -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat") }
        return UInt64(st.st_ino)
    }
}
