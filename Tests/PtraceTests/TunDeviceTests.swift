import Glibc
@testable import Ptrace
import XCTest

/// The tun ioctls and the driver's rtnetlink report against the kernel, in
/// a network namespace made for the test.
final class TunDeviceTests: XCTestCase {
    func testQueuesAndTheDeviceReadBackAsTheyWereMade() throws {
        try NamespaceEntry.runInNew(.net) {
            let open = { () throws -> Int32 in
                let fd = Glibc.open(TunDevice.path, O_RDWR | O_CLOEXEC)
                if fd < 0 { throw SystemError("open \(TunDevice.path)") }
                return fd
            }
            let blank = try open()
            defer { close(blank) }
            XCTAssertNil(try TunDevice.interface(of: blank), "a file not attached")

            let flags = TunDevice.tap | TunDevice.noPacketInformation | TunDevice.multiQueue
            let first = try open(), second = try open()
            defer { close(first); close(second) }
            try TunDevice.attach(first, to: "crtq0", flags: flags)
            try TunDevice.attach(second, to: "crtq0", flags: flags)
            let wrong = try open()
            defer { close(wrong) }
            XCTAssertThrowsError(try TunDevice.attach(wrong, to: "crtq0", flags: TunDevice.tun)) {
                XCTAssertEqual(($0 as? SystemError)?.errno, EINVAL, "a tun queue on a tap device")
            }
            XCTAssertEqual(try TunDevice.interface(of: first), TunDevice.Interface(name: "crtq0", flags: flags))
            XCTAssertEqual(try TunDevice.virtioHeaderSize(of: first), TunDevice.defaultVirtioHeaderSize)
            XCTAssertEqual(try TunDevice.sendBuffer(of: first), TunDevice.defaultSendBuffer)
            try TunDevice.setVirtioHeaderSize(first, 12)
            try TunDevice.setSendBuffer(first, 65536)
            XCTAssertEqual([try TunDevice.virtioHeaderSize(of: first), try TunDevice.sendBuffer(of: first)], [12, 65536])
            XCTAssertEqual(try TunDevice.filterLength(of: first), 0)
            try TunDevice.setPersistent(first, true)
            try TunDevice.setOwner(first, uid: 1234)
            XCTAssertEqual(try TunDevice.interface(of: second)?.flags, flags | TunDevice.persist, "persistence is the device's")

            let made = try XCTUnwrap(try RouteNetlinkSocket().links().first { $0.name == "crtq0" })
            XCTAssertEqual(made.kind, "tun")
            XCTAssertEqual(made.tun, TunLinkInfo(type: TunDevice.tap, persistent: true, multiQueue: true, owner: 1234,
                                                 attachedQueues: 2, detachedQueues: 0))
            XCTAssertEqual(made.tun?.creationFlags, flags)
            let namespace = try NetworkNamespace.of(tunQueue: first)
            XCTAssertEqual(namespace.id, try NetworkNamespace.currentID(), "the device is where it was made")

            // One queue: the kernel does not count them.
            let single = try open()
            defer { close(single) }
            try TunDevice.attach(single, to: "crts0", flags: TunDevice.tun)
            let tun = try XCTUnwrap(try RouteNetlinkSocket().links().first { $0.name == "crts0" }?.tun)
            XCTAssertEqual(tun, TunLinkInfo(type: TunDevice.tun, packetInformation: true))
            XCTAssertNil(tun.attachedQueues)
        }
    }
}
