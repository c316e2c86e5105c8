import Glibc
import XCTest

/// `ip monitor address` (iproute2): a real program that holds a netlink
/// socket in the kernel's address groups and prints every event. After
/// the restore it must still hear addresses come and go.
final class IpMonitorScenarioTests: EndToEndCase {
    func testIpMonitorHearsAddressEventsAfterTheRestore() throws {
        let monitor = try startProgram("ip-monitor", "/usr/sbin/ip", ["-o", "monitor", "address"], isReady: nil)
        // An event seen before the dump shows it listens already.
        var address = ""
        let listening = poll(timeout: 15, every: 0.2) {
            address = (try? self.toggleLoopbackAddress()) ?? ""
            return monitor.log.lines().contains { $0.contains("Deleted") && $0.contains(address + "/32") }
        }
        XCTAssertTrue(listening, "ip monitor never reported an address: \(monitor.log.tail())")

        let (_, mark) = try roundTrip(monitor)
        address = try toggleLoopbackAddress()
        try monitor.log.waitForLine("the removal of \(address)", from: mark, timeout: 15, process: monitor.pid) {
            $0.contains("Deleted") && $0.contains(address + "/32")
        }
        let added = monitor.log.lines().dropFirst(mark).contains { !$0.contains("Deleted") && $0.contains(address + "/32") }
        XCTAssertTrue(added, "the restored monitor reports the address added too: \(monitor.log.tail())")
        assertNoFailures(monitor)
    }
}
