import Glibc
import XCTest

extension EndToEndCase {
    /// Sets a kernel setting for the rest of the test and puts the host's
    /// own value back when the test ends, failed or not.
    func setSysctlForTest(_ path: String, _ value: String) throws {
        guard let original = readTextFile(path) else { throw HarnessError("cannot read \(path)") }
        try writeWholeFile(path, Array((value + "\n").utf8))
        addTeardownBlock { try? writeWholeFile(path, Array(original.utf8)) }
    }

    /// Lets every group make ICMP datagram ("ping") sockets (as systemd
    /// sets net.ipv4.ping_group_range on most hosts).
    func allowPingSockets() throws {
        try setSysctlForTest("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
    }

    /// Makes io_uring_setup fail with EPERM, as in containers whose seccomp
    /// profile forbids io_uring: programs that can fall back to Linux AIO
    /// (MariaDB's InnoDB) then do.
    func disableIOUring() throws {
        try setSysctlForTest("/proc/sys/kernel/io_uring_disabled", "2")
    }

    /// Reserves `count` huge pages in the hugetlb pool for the test.
    func reserveHugePages(_ count: Int) throws {
        let path = "/proc/sys/vm/nr_hugepages"
        try setSysctlForTest(path, String(count))
        let reserved = Int(readTextFile(path)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        guard reserved >= count else { throw HarnessError("this host reserved \(reserved) of \(count) huge pages (vm.nr_hugepages)") }
    }
}
