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
            .packet(protocolNumber: 0x0806, interfaceIndex: 7),
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

    /// A packet socket bound to lo reads back its ethertype and interface,
    /// and packet_diag finds it with a membership and no ring.
    func testBoundPacketSocketReadsBack() throws {
        let fd = try Sockets.create(family: AF_PACKET, type: Int32(SOCK_DGRAM.rawValue), protocol: 0)
        defer { close(fd) }
        let lo = NetworkInterface.index(ofName: "lo")
        XCTAssertGreaterThan(lo, 0)
        XCTAssertEqual(NetworkInterface.name(ofIndex: lo), "lo")
        try Sockets.bind(fd, .packet(protocolNumber: 0x0800, interfaceIndex: lo))
        XCTAssertEqual(try Sockets.localAddress(fd), .packet(protocolNumber: 0x0800, interfaceIndex: lo))
        // PACKET_ADD_MEMBERSHIP, PACKET_MR_ALLMULTI on lo
        try Sockets.setBytesOption(fd, level: 263, name: 1, [UInt8].le(lo) + [UInt8].le(UInt16(2), UInt16(0)) + [UInt8](repeating: 0, count: 8))
        let diag = try PacketSocketDiag.query(inode: try inode(of: fd))
        XCTAssertEqual(diag.type, Int32(SOCK_DGRAM.rawValue))
        XCTAssertEqual(diag.protocolNumber, 0x0800)
        XCTAssertEqual(diag.interfaceIndex, lo)
        XCTAssertEqual(diag.memberships.map { [Int64($0.interfaceIndex), Int64($0.count), Int64($0.type), Int64($0.address.count)] },
                       [[Int64(lo), 1, 2, 0]], "one ALLMULTI membership on lo")
        XCTAssertNil(diag.receiveRing)
        XCTAssertNil(diag.transmitRing)
        XCTAssertNil(diag.fanout)
        XCTAssertThrowsError(try PacketSocketDiag.query(inode: 1), "no packet socket has inode 1")
    }

    /// A TPACKET_V3 receive ring reads back from packet_diag as it was
    /// asked for, and a mapping of it shows the kernel's first block open.
    func testReceiveRingReadsBack() throws {
        let fd = try Sockets.create(family: AF_PACKET, type: Int32(SOCK_RAW.rawValue), protocol: 0)
        defer { close(fd) }
        try Sockets.setIntOption(fd, level: 263, name: 10, 2) // PACKET_VERSION, TPACKET_V3
        let asked = PacketRingGeometry(blockSize: 8192, blockCount: 3, frameSize: 2048, frameCount: 12, retireTimeout: 250)
        try Sockets.setBytesOption(fd, level: 263, name: 5, asked.request)
        let diag = try PacketSocketDiag.query(inode: try inode(of: fd))
        XCTAssertEqual(diag.version, 2)
        XCTAssertEqual(diag.receiveRing, asked)
        XCTAssertNil(diag.transmitRing)
        let ring = try PacketRingMapping(socket: fd, size: asked.size, writable: false, what: "the test's socket")
        XCTAssertEqual(ring.read(24..<28).le(UInt32.self, at: 0), 1, "the kernel opened its first block with sequence number 1")
        XCTAssertEqual(ring.read((8192 + 24)..<(8192 + 28)).le(UInt32.self, at: 0), 0, "and no other")
        XCTAssertThrowsError(try PacketRingMapping(socket: fd, size: asked.size - 4096, writable: false, what: "the test's socket"),
                             "the kernel maps a ring only whole")
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
