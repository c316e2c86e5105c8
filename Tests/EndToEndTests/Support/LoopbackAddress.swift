import Glibc
import XCTest

extension EndToEndCase {
    /// Adds an address of 127/8 to lo and takes it away again, so that
    /// every NETLINK_ROUTE listener of RTMGRP_IPV4_IFADDR hears two events;
    /// returns the address, different each call.
    @discardableResult
    func toggleLoopbackAddress() throws -> String {
        let address = "127.0.\(getpid() % 200 + 20).\(Int.random(in: 2...250))"
        for verb in ["add", "del"] {
            let result = try runCommand("/usr/sbin/ip", ["address", verb, address + "/32", "dev", "lo"],
                                        outputPrefix: scratch.newPath("ip"), timeout: 30)
            guard result.succeeded else { throw HarnessError("ip address \(verb) \(address)/32: \(result)") }
        }
        return address
    }
}
