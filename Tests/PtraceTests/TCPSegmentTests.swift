import Ptrace
import XCTest

/// The segments the restore hands a socket must pass the kernel's checks:
/// header and TCP checksums sum to zero with their pseudo-header, and an
/// IPv6 socket's IPv4-mapped addresses make an IPv4 packet.
final class TCPSegmentTests: XCTestCase {
    /// RFC 1071 sum of 16-bit words, folded; a valid header sums to 0xffff.
    private func sum(_ bytes: [UInt8]) -> UInt16 {
        var total: UInt32 = 0
        for i in stride(from: 0, to: bytes.count, by: 2) {
            total += UInt32(bytes[i]) << 8 | UInt32(i + 1 < bytes.count ? bytes[i + 1] : 0)
        }
        while total >> 16 != 0 { total = (total & 0xffff) + (total >> 16) }
        return UInt16(total)
    }

    func testIPv4FINChecksumsHold() throws {
        let segment = TCPSegment(from: .inet4(address: [10, 0, 0, 2], port: 40000), to: .inet4(address: [127, 0, 0, 1], port: 8080),
                                 sequence: 0xDEAD_BEEF, acknowledgment: 0x0102_0304, flags: TCPSegment.fin | TCPSegment.ack, window: 512)
        let packet = try segment.packet()
        XCTAssertEqual(packet.count, 40)
        XCTAssertEqual(packet[0], 0x45)
        XCTAssertEqual(Array(packet[12..<20]), [10, 0, 0, 2, 127, 0, 0, 1])
        XCTAssertEqual(sum(Array(packet[0..<20])), 0xffff, "IPv4 header checksum")
        let tcp = Array(packet[20...])
        XCTAssertEqual(Array(tcp[0..<4]), [0x9c, 0x40, 0x1f, 0x90], "ports 40000 and 8080")
        XCTAssertEqual(Array(tcp[4..<12]), [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])
        XCTAssertEqual(tcp[13], 0x11)
        let pseudo: [UInt8] = [10, 0, 0, 2, 127, 0, 0, 1, 0, 6, 0, 20]
        XCTAssertEqual(sum(pseudo + tcp), 0xffff, "TCP checksum over the pseudo-header")
    }

    func testIPv4MappedAddressesMakeAnIPv4Packet() throws {
        let mapped: (UInt8) -> [UInt8] = { [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, $0] }
        let segment = TCPSegment(from: .inet6(address: mapped(2), port: 1, flowInfo: 0, scopeID: 0),
                                 to: .inet6(address: mapped(1), port: 2, flowInfo: 0, scopeID: 0),
                                 sequence: 1, acknowledgment: 2, flags: TCPSegment.ack, window: 1)
        let packet = try segment.packet()
        XCTAssertEqual(packet[0] >> 4, 4)
        XCTAssertEqual(Array(packet[12..<20]), [127, 0, 0, 2, 127, 0, 0, 1])
    }

    func testIPv6ChecksumHolds() throws {
        let a: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let b: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]
        let segment = TCPSegment(from: .inet6(address: a, port: 443, flowInfo: 0, scopeID: 0),
                                 to: .inet6(address: b, port: 50000, flowInfo: 0, scopeID: 0),
                                 sequence: 7, acknowledgment: 9, flags: TCPSegment.fin | TCPSegment.ack, window: 65535)
        let packet = try segment.packet()
        XCTAssertEqual(packet.count, 60)
        XCTAssertEqual(packet[0] >> 4, 6)
        XCTAssertEqual(packet[6], 6, "next header TCP")
        let tcp = Array(packet[40...])
        let pseudo = a + b + [0, 0, 0, 20, 0, 0, 0, 6]
        XCTAssertEqual(sum(pseudo + tcp), 0xffff)
    }

    func testMixedFamiliesAreRefused() {
        let segment = TCPSegment(from: .inet4(address: [127, 0, 0, 1], port: 1),
                                 to: .inet6(address: [UInt8](repeating: 0, count: 15) + [1], port: 2, flowInfo: 0, scopeID: 0),
                                 sequence: 0, acknowledgment: 0, flags: TCPSegment.ack, window: 0)
        XCTAssertThrowsError(try segment.packet())
    }
}
