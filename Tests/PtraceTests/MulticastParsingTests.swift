@testable import Ptrace
import XCTest

/// The groups of every interface, from samples of /proc/net/igmp and igmp6.
final class MulticastParsingTests: XCTestCase {
    func testIGMPListsEachInterfaceGroup() {
        let text = """
            Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
            1\tlo        :     1      V3
            \t\t\t\t010000E0     1 0:00000000\t\t0
            2\teth0      :     2      V3
            \t\t\t\t030201EF     1 0:00000000\t\t0
            \t\t\t\t010000E0     1 0:00000000\t\t0

            """
        XCTAssertEqual(Multicast.parseIGMP(text), [
            .init(interfaceIndex: 1, interfaceName: "lo", address: [224, 0, 0, 1]),
            .init(interfaceIndex: 2, interfaceName: "eth0", address: [239, 1, 2, 3]),
            .init(interfaceIndex: 2, interfaceName: "eth0", address: [224, 0, 0, 1]),
        ])
    }

    func testIGMP6ListsEachInterfaceGroup() {
        let text = """
            1    lo              ff020000000000000000000000000001     1 0000000C 0
            2    eth0            ff0200000000000000000001ff123456     1 00000004 0

            """
        XCTAssertEqual(Multicast.parseIGMP6(text), [
            .init(interfaceIndex: 1, interfaceName: "lo", address: [0xff, 2] + [UInt8](repeating: 0, count: 13) + [1]),
            .init(interfaceIndex: 2, interfaceName: "eth0", address: [0xff, 2] + [UInt8](repeating: 0, count: 9) + [1, 0xff, 0x12, 0x34, 0x56]),
        ])
    }

    /// struct group_filter as the kernel lays it out on x86-64.
    func testGroupFilterLayout() {
        let bytes = Multicast.groupFilter(interface: 2, group: [239, 1, 2, 3], filter: .init(include: true, sources: [[10, 0, 0, 1]]), room: 1)
        XCTAssertEqual(bytes.count, 144 + 2 * 128)
        XCTAssertEqual(bytes.le(UInt32.self, at: 0), 2)
        XCTAssertEqual(bytes.le(UInt16.self, at: 8), UInt16(AF_INET))
        XCTAssertEqual(Array(bytes[12..<16]), [239, 1, 2, 3])
        XCTAssertEqual(bytes.le(UInt32.self, at: 136), 1, "MCAST_INCLUDE")
        XCTAssertEqual(bytes.le(UInt32.self, at: 140), 1, "one source")
        XCTAssertEqual(Array(bytes[148..<152]), [10, 0, 0, 1])
    }
}
