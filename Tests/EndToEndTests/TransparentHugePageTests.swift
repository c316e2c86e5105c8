import Glibc
import XCTest

/// Memory that transparent huge pages backed comes back in huge pages,
/// with the same bytes: a region advised with MADV_HUGEPAGE, one without
/// advice that MADV_COLLAPSE made huge, and one whose first huge page
/// holds only zeroes (nothing of it is stored).
final class TransparentHugePageTests: EndToEndCase {
    func testHugePagesComeBackHuge() throws {
        let fixture = try startFixture("hugepages")
        let starts = try regionStarts(fixture)
        let wanted: [String: UInt64] = ["advised": 16384, "collapsed": 8192, "zeroes": 4096]
        let before = hugeKiB(fixture.pid)
        for (name, kib) in wanted where before[starts[name]!] != kib {
            let setting = readTextFile("/sys/kernel/mm/transparent_hugepage/enabled") ?? "unreadable"
            throw XCTSkip("the \(name) region has \(before[starts[name]!] ?? 0) KiB in transparent huge pages, not \(kib): "
                          + "this host does not back it so (setting: \(setting.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        try fixture.waitFor("tick", atLeast: 2)

        let image = try checkpoint(fixture)
        let mark = fixture.lineCount
        let result = try restore(image, as: fixture)
        XCTAssertFalse((result.stdout + result.stderr).contains("small pages"), "no run stayed in small pages: \(result)")
        let after = hugeKiB(fixture.pid)
        for (name, kib) in wanted {
            XCTAssertEqual(after[starts[name]!], kib, "KiB of the \(name) region in transparent huge pages after the restore")
        }
        try fixture.waitForMore("tick", 3, after: mark)
        assertNoFailures(fixture)
    }

    /// The regions' start addresses, from "advised <hex> collapsed <hex> zeroes <hex>".
    private func regionStarts(_ fixture: Fixture) throws -> [String: UInt64] {
        let line = try fixture.waitFor("the regions' addresses") { $0.hasPrefix("advised ") }.line
        let words = line.split(separator: " ")
        var starts: [String: UInt64] = [:]
        for i in stride(from: 0, to: words.count - 1, by: 2) { starts[String(words[i])] = UInt64(words[i + 1], radix: 16) }
        guard Set(starts.keys) == ["advised", "collapsed", "zeroes"] else { throw HarnessError("not the three regions: \(line)") }
        return starts
    }

    /// AnonHugePages of each VMA of `pid`, in KiB, by its start address.
    private func hugeKiB(_ pid: pid_t) -> [UInt64: UInt64] {
        var result: [UInt64: UInt64] = [:]
        var start: UInt64?
        for line in (readTextFile("/proc/\(pid)/smaps") ?? "").split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let address = UInt64(line[..<dash], radix: 16) {
                start = address
            } else if line.hasPrefix("AnonHugePages:"), let start {
                result[start] = UInt64(line.split(separator: " ")[1])
            }
        }
        return result
    }
}
