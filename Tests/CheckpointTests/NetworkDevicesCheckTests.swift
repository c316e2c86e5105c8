@testable import Checkpoint
import Ptrace
import XCTest

/// namespaces.json's veth devices and routes are checked, field by
/// field, before a restore makes anything from them.
final class NetworkDevicesCheckTests: XCTestCase {
    private func namespace() -> NamespaceImage {
        var n = NamespaceImage(kind: .net, id: 7, loopbackUp: true, loopbackAddresses: ["127.0.0.1/8"])
        n.veths = [VethImage(
            inside: NetworkDeviceImage(name: "eth0", hardwareAddress: "02:00:00:00:00:02", mtu: 1500, up: true,
                                       addresses: [AddressImage(address: "10.1.0.2/24", broadcast: "10.1.0.255")]),
            outside: NetworkDeviceImage(name: "veth0", hardwareAddress: "02:00:00:00:00:01", mtu: 1500, up: true, addresses: []),
            outsideMaster: "br0", outsideRoutes: [RouteImage(family: "inet", destination: "10.3.0.0/16", device: "veth0")])]
        n.routes = [RouteImage(family: "inet", destination: "default", gateway: "10.1.0.1", device: "eth0"),
                    RouteImage(family: "inet6", destination: "fd00::/8", device: "lo", type: 7)]
        return n
    }

    func testASavedNamespacePasses() throws {
        XCTAssertNoThrow(try NetworkDevicesCheck.check(namespace(), file: "namespaces.json", index: 0))
    }

    func testEachHostileFieldIsNamed() {
        let cases: [(String, (inout NamespaceImage) -> Void)] = [
            ("[0].veths[0].inside.name", { $0.veths![0].inside.name = "eth0/../x" }),
            ("[0].veths[0].inside.name", { $0.veths![0].inside.name = "lo" }),
            ("[0].veths[0].outside.name", { $0.veths![0].outside.name = String(repeating: "v", count: 16) }),
            ("[0].veths[0].inside.hardwareAddress", { $0.veths![0].inside.hardwareAddress = "01:00:5e:00:00:01" }),
            ("[0].veths[0].outside.mtu", { $0.veths![0].outside.mtu = 20 }),
            ("[0].veths[0].inside.addresses[0].address", { $0.veths![0].inside.addresses[0].address = "10.1.0.2/40" }),
            ("[0].veths[0].inside.addresses[0].broadcast", { $0.veths![0].inside.addresses[0].broadcast = "fd00::1" }),
            ("[0].veths[0].outsideMaster", { $0.veths![0].outsideMaster = "" }),
            ("[0].veths[0].outsideRoutes[0].device", { $0.veths![0].outsideRoutes![0].device = "eth0" }),
            ("[0].routes[0].gateway", { $0.routes![0].gateway = "fd00::1" }),
            ("[0].routes[0].family", { $0.routes![0].family = "ipx" }),
            ("[0].routes[1].destination", { $0.routes![1].destination = "10.0.0.0/8" }),
            ("[0].routes[0].device", { $0.routes![0].device = "eth1" }),
        ]
        for (field, edit) in cases {
            var n = namespace()
            edit(&n)
            XCTAssertThrowsError(try NetworkDevicesCheck.check(n, file: "namespaces.json", index: 0), field) { error in
                XCTAssertEqual((error as? ImageError)?.field, field, "\(error)")
            }
        }
        var twice = namespace()
        twice.veths!.append(twice.veths![0])
        twice.veths![1].outside.name = "veth1"
        XCTAssertThrowsError(try NetworkDevicesCheck.check(twice, file: "namespaces.json", index: 0)) {
            XCTAssertEqual(($0 as? ImageError)?.field, "[0].veths[1].inside.name")
        }
        var notNet = namespace()
        notNet.kind = .uts
        XCTAssertThrowsError(try NetworkDevicesCheck.check(notNet, file: "namespaces.json", index: 0)) {
            XCTAssertEqual(($0 as? ImageError)?.field, "[0].veths")
        }
    }
}
