import Glibc
@testable import Ptrace
import XCTest

/// The rtnetlink layer against the kernel, in a network namespace made
/// for each test (nothing of the host's is touched), and its parser on
/// answers made by hand.
final class RouteNetlinkTests: XCTestCase {
    func testAttributesComeBackAsTheyWereEncodedAndNestedOnesAreFound() throws {
        let inner = NetlinkAttributes.encode(1, string: "veth") + NetlinkAttributes.encode(7, UInt32(1400))
        let bytes = [0, 0, 0, 0] + NetlinkAttributes.encode(3, string: "eth0") + NetlinkAttributes.nested(18, inner)
            + NetlinkAttributes.encode(1, [2, 0, 0, 0, 0, 1])
        let parsed = NetlinkAttributes(bytes, from: 4)
        XCTAssertEqual(parsed.string(3), "eth0")
        XCTAssertEqual(parsed[1], [2, 0, 0, 0, 0, 1])
        let nested = NetlinkAttributes(try XCTUnwrap(parsed[18]), from: 0)
        XCTAssertEqual(nested.string(1), "veth")
        XCTAssertEqual(nested.uint32(7), 1400)
        XCTAssertEqual(bytes.count % 4, 0, "attributes are padded to 4 bytes")
        // A length past the end stops the walk instead of reading beyond it.
        let cut = NetlinkAttributes([UInt8].le(UInt16(200), UInt16(3)) + [1, 2, 3, 4], from: 0)
        XCTAssertNil(cut[3])
    }

    /// An error answer is thrown with its errno and the text the kernel
    /// gave with it (NLMSGERR_ATTR_MSG after a capped request header).
    func testAnErrorAnswerCarriesTheKernelsReason() {
        let request = [UInt8].le(UInt32(16)) + [UInt8].le(UInt16(16), UInt16(5)) + [UInt8].le(UInt32(1), UInt32(0))
        let body = [UInt8].le(UInt32(bitPattern: -EEXIST)) + request + NetlinkAttributes.encode(1, string: "File exists here")
        let message = [UInt8].le(UInt32(16 + body.count)) + [UInt8].le(UInt16(2), UInt16(0x100 | 0x200)) + [UInt8].le(UInt32(1), UInt32(0)) + body
        XCTAssertThrowsError(try RouteNetlinkSocket.parse(message, what: "make eth0")) { error in
            let e = error as? SystemError
            XCTAssertEqual(e?.errno, EEXIST)
            XCTAssertEqual(e?.operation, "make eth0 (File exists here)")
        }
        let ack = [UInt8].le(UInt32(36)) + [UInt8].le(UInt16(2), UInt16(0x100)) + [UInt8].le(UInt32(7), UInt32(0)) + [UInt8].le(UInt32(0)) + request
        XCTAssertEqual(try RouteNetlinkSocket.parse(ack, what: "x").map(\.sequence), [7], "an error of 0 is the acknowledgement")
        XCTAssertThrowsError(try RouteNetlinkSocket.parse([UInt8].le(UInt32(400)) + [UInt8](repeating: 0, count: 12), what: "x"))
    }

    /// A veth pair made, given an address, set up and routed through, in
    /// a namespace of the test's own, reads back as it was made.
    func testAVethPairIsMadeAddressedRoutedAndReadBack() throws {
        let (links, addresses, routes) = try NamespaceEntry.runInNew(.net) { () throws -> ([NetworkLink], [InterfaceAddress], [Route]) in
            let socket = try RouteNetlinkSocket()
            XCTAssertEqual(try socket.links().map(\.name).filter { $0 == "lo" }, ["lo"])
            let here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            defer { close(here) }
            XCTAssertGreaterThanOrEqual(here, 0)
            try socket.makeVethPair(near: VethEnd(name: "crt-a", hardwareAddress: [2, 0, 0, 0, 0, 0xa], mtu: 1400),
                                    far: VethEnd(name: "crt-b", hardwareAddress: [2, 0, 0, 0, 0, 0xb], mtu: 1400), farNamespace: here)
            XCTAssertThrowsError(try socket.makeVethPair(near: VethEnd(name: "crt-a", hardwareAddress: [2, 0, 0, 0, 0, 0xc], mtu: 1500),
                                                         far: VethEnd(name: "crt-c", hardwareAddress: [2, 0, 0, 0, 0, 0xd], mtu: 1500),
                                                         farNamespace: here)) { XCTAssertEqual(($0 as? SystemError)?.errno, EEXIST) }
            let a = try XCTUnwrap(try socket.links().first { $0.name == "crt-a" })
            try socket.add(InterfaceAddress(index: a.index, family: AF_INET, address: [10, 9, 8, 1], prefixLength: 24), what: "address")
            try socket.add(InterfaceAddress(index: a.index, family: AF_INET6, address: [0xfd, 9] + [UInt8](repeating: 0, count: 13) + [1],
                                            prefixLength: 64), what: "address")
            try socket.setLink(a.index, up: true, what: "up")
            try socket.add(Route(family: AF_INET, destination: [10, 7, 0, 0], destinationLength: 16, gateway: [10, 9, 8, 2],
                                 outputIndex: a.index, priority: 50), what: "route")
            return (try socket.links(), try socket.addresses(), try socket.routes())
        }
        let a = try XCTUnwrap(links.first { $0.name == "crt-a" })
        let b = try XCTUnwrap(links.first { $0.name == "crt-b" })
        XCTAssertEqual([a.kind, b.kind], ["veth", "veth"])
        XCTAssertEqual([a.peerIndex, b.peerIndex], [b.index, a.index], "each end names the other")
        XCTAssertEqual([a.peerNamespaceID, b.peerNamespaceID], [nil, nil], "both ends are in one namespace")
        XCTAssertEqual(NetworkLink.text(ofHardwareAddress: a.hardwareAddress), "02:00:00:00:00:0a")
        XCTAssertEqual([a.mtu, b.mtu], [1400, 1400])
        XCTAssertTrue(a.isUp)
        XCTAssertFalse(b.isUp)
        let own = addresses.filter { $0.index == a.index && !$0.isIPv6LinkLocal }.map(\.text).sorted()
        XCTAssertEqual(own, ["10.9.8.1/24", "fd09::1/64"])
        let added = try XCTUnwrap(routes.first { $0.destinationText == "10.7.0.0/16" })
        XCTAssertEqual(added.gateway.flatMap(IPAddressText.text), "10.9.8.2")
        XCTAssertEqual([added.outputIndex, added.priority.map(Int32.init)], [a.index, 50])
        XCTAssertEqual([added.table, UInt32(added.protocolNumber)], [Route.mainTable, 3])
        XCTAssertTrue(routes.contains { $0.destinationText == "10.9.8.0/24" && $0.protocolNumber == Route.kernelProtocol },
                      "the address's own route is the kernel's")
    }

    func testTextFormsOfAddressesAndPrefixes() {
        XCTAssertEqual(NetworkLink.hardwareAddress("02:42:ac:11:00:02"), [2, 0x42, 0xac, 0x11, 0, 2])
        for bad in ["02:42:ac:11:00", "02:42:ac:11:00:002", "zz:42:ac:11:00:02", ""] { XCTAssertNil(NetworkLink.hardwareAddress(bad), bad) }
        XCTAssertEqual(IPAddressText.prefix("10.0.0.0/8")?.length, 8)
        XCTAssertEqual(IPAddressText.prefix("fd00::/128")?.address.count, 16)
        for bad in ["10.0.0.0/33", "10.0.0.0", "fd00::/129", "x/8", "10.0.0.0/-1"] { XCTAssertNil(IPAddressText.prefix(bad), bad) }
        XCTAssertEqual(Route(family: AF_INET, destination: [0, 0, 0, 0], destinationLength: 0).destinationText, "default")
    }
}
