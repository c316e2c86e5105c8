import Glibc
import Ptrace
import XCTest

/// A UDP socket's queue is read without being taken, each datagram with
/// its sender and the address it was sent to, and a datagram sent through
/// a raw socket reaches a socket as if its sender had sent it.
final class UDPQueueTests: XCTestCase {
    private func boundSocket(_ address: SocketAddress, family: Int32 = AF_INET) throws -> Int32 {
        let fd = try Sockets.create(family: family, type: Int32(SOCK_DGRAM.rawValue))
        try Sockets.bind(fd, address)
        return fd
    }

    func testQueuedDatagramsArePeekedWithTheirSendersAndDestinations() throws {
        let server = try boundSocket(.inet4(address: [0, 0, 0, 0], port: 0))
        defer { close(server) }
        let port = try Sockets.localAddress(server).port
        var sent: [(source: SocketAddress, to: [UInt8], payload: [UInt8])] = []
        for (i, last) in [UInt8(2), 3, 4].enumerated() {
            let client = try boundSocket(.inet4(address: [127, 0, 0, last], port: 0))
            defer { close(client) }
            XCTAssertEqual(Sockets.connect(client, .inet4(address: [127, 0, 0, 9 + last], port: port)), 0)
            let payload = Array("datagram \(i)".utf8) + (i == 1 ? [UInt8](repeating: 7, count: 30000) : [])
            XCTAssertEqual(try Sockets.send(client, payload, flags: 0).get(), payload.count)
            sent.append((try Sockets.localAddress(client), [127, 0, 0, 9 + last], payload))
        }
        let queue = try UDPQueue.peek(server, ipv6: false)
        XCTAssertEqual(queue.map(\.source), sent.map(\.source))
        XCTAssertEqual(queue.map(\.destination), sent.map { .inet4(address: $0.to, port: 0) })
        XCTAssertEqual(queue.map(\.payload), sent.map(\.payload))
        XCTAssertEqual(try Sockets.intOption(server, level: SOL_SOCKET, name: SO_PEEK_OFF), -1, "the peek offset is put back")
        XCTAssertEqual(try Sockets.intOption(server, level: Int32(IPPROTO_IP), name: 8), 0, "IP_PKTINFO is put back")
        XCTAssertEqual(try UDPQueue.peek(server, ipv6: false, limit: 2).map(\.payload), Array(sent.map(\.payload).prefix(2)), "the first, up to the limit")
        XCTAssertEqual(try Sockets.receive(server, count: 100), Array("datagram 0".utf8), "nothing was taken")
    }

    func testADatagramSentThroughARawSocketArrivesFromItsSender() throws {
        for (family, host, source) in [(AF_INET, "127.0.0.1", "127.0.0.7"), (AF_INET6, "::1", "::1")] {
            let server = try boundSocket(try .inet(host: host, port: 0), family: family)
            defer { close(server) }
            let to = try Sockets.localAddress(server)
            let from = try SocketAddress.inet(host: source, port: 4711)
            try UDPQueue.Sender().send(Array("again".utf8), from: from, to: to)
            let queue = try UDPQueue.peek(server, ipv6: family == AF_INET6)
            XCTAssertEqual(queue.map(\.payload), [Array("again".utf8)], host)
            XCTAssertEqual(queue.first?.source.host, source)
            XCTAssertEqual(queue.first?.source.port, 4711)
        }
    }

    func testAnErrorWaitingOnTheSocketIsSeenWithoutBeingTaken() throws {
        let client = try boundSocket(.inet4(address: [127, 0, 0, 1], port: 0))
        defer { close(client) }
        let closed = try boundSocket(.inet4(address: [127, 0, 0, 1], port: 0))
        let port = try Sockets.localAddress(closed).port
        close(closed)
        XCTAssertEqual(Sockets.connect(client, .inet4(address: [127, 0, 0, 1], port: port)), 0)
        _ = Sockets.send(client, [1], flags: 0)
        for _ in 0..<200 where !UDPQueue.hasPendingError(client) { usleep(10_000) }
        XCTAssertTrue(UDPQueue.hasPendingError(client), "the port unreachable arrives")
        XCTAssertTrue(UDPQueue.hasPendingError(client), "and stays")
        XCTAssertEqual(try Sockets.intOption(client, level: SOL_SOCKET, name: SO_ERROR), ECONNREFUSED)
        XCTAssertFalse(UDPQueue.hasPendingError(client))
    }
}
