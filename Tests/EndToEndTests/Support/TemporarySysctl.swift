import Glibc
import XCTest

extension EndToEndCase {
    /// Lets every group make ICMP datagram ("ping") sockets for the rest
    /// of the test (net.ipv4.ping_group_range, which systemd sets so on
    /// most hosts), and puts the host's own range back when the test ends.
    func allowPingSockets() throws {
        let path = "/proc/sys/net/ipv4/ping_group_range"
        guard let original = readTextFile(path) else { throw HarnessError("cannot read \(path)") }
        try writeWholeFile(path, Array("0 2147483647\n".utf8))
        addTeardownBlock { try? writeWholeFile(path, Array(original.utf8)) }
    }
}
