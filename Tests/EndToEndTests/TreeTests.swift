import Glibc
import XCTest

/// A whole process tree comes back: the same PIDs, parents, sessions and
/// process groups, its zombie still waiting, memory shared among its
/// processes still shared, and one file offset still shared by two.
final class TreeTests: EndToEndCase {
    func testTreeComesBackWithSessionsGroupsZombieAndSharing() throws {
        let dataDir = try scratch.newDirectory("data")
        let tree = try startFixture("tree", [dataDir])
        try tree.waitFor(line: "ready")
        try tree.waitFor("tick", atLeast: 2)
        let before = ProcessIdentity.tree(tree.pid)
        XCTAssertEqual(before.count, 8, "root, leader, grandchild, grouper, writer, two consumers, zombie: \(before)")
        XCTAssertEqual(before.filter { $0.state == "Z" }.count, 1, "\(before)")
        XCTAssertTrue(before.contains { $0.sid == $0.pid && $0.pid != tree.pid }, "a session leader below the root: \(before)")

        let sharedBefore = Dictionary(uniqueKeysWithValues: before.map { ($0.pid, sharedMappings($0.pid)) })
        XCTAssertTrue(sharedBefore.values.contains { $0.contains { $0.hasSuffix("/dev/zero (deleted)") } }, "shared anonymous memory: \(sharedBefore)")
        let image = try checkpoint(tree)
        // Each parent reaped its children, the zombie too, before it was
        // killed: their PIDs are free as the dump returns, not once this
        // process, the orphans' subreaper, or init reaps them.
        let held = before.map(\.pid).filter { $0 != tree.pid && !ProcessTable.isFree($0) }
        XCTAssertEqual(held, [], "still taken after the dump: \(held.compactMap(ProcessIdentity.of))")
        for p in before where p.pid != tree.pid {
            _ = try? waitForExit(p.pid, timeout: 5)
            try waitUntilFree(p.pid)
        }
        let mark = tree.lineCount
        let lastTick = try XCTUnwrap(tree.numbers("tick").last)
        try restore(image, as: tree)

        let after = ProcessIdentity.tree(tree.pid)
        XCTAssertEqual(after, before, "the tree after restore")
        for p in after where p.state != "Z" {
            XCTAssertEqual(sharedMappings(p.pid), sharedBefore[p.pid], "the shared mappings of pid \(p.pid), names included")
        }
        try tree.waitFor("tick", atLeast: lastTick + 3, from: mark)
        for consumer in 0..<2 {
            try tree.waitFor("consumer \(consumer) after restore", from: mark) { $0.hasPrefix("consumer \(consumer) at ") }
        }
        for role in ["leader", "grandchild", "grouper"] {
            try tree.waitFor("\(role) after restore", from: mark) { $0.hasPrefix("\(role) ") }
        }
        let next = try XCTUnwrap(tree.numbers("tick", from: mark).first)
        XCTAssertEqual(next, lastTick + 1, "the parent's ticks go on from where they were")
        // Stop them all first, so none sees another die and reports it;
        // the orphans pass to this process, which reaps them.
        for p in after { Glibc.kill(p.pid, SIGSTOP) }
        for p in after { Glibc.kill(p.pid, SIGKILL) }
        for p in after { try? killAndReap(p.pid) }
        assertNoFailures(tree)
        try assertTurnsFile(dataDir + "/turns.dat")
    }

    /// Parent and writer wrote through one shared offset, taking turns: the
    /// file must hold P0, W1, P2, … back to back, the restore in the middle.
    private func assertTurnsFile(_ path: String) throws {
        let bytes = try XCTUnwrap(readWholeFile(path), path)
        let count = bytes.count / 16
        XCTAssertGreaterThan(count, 20)
        for n in 0..<count {
            let got = String(decoding: bytes[(n * 16)..<(n * 16 + 16)], as: UTF8.self)
            let digits = String(n)
            let want = (n % 2 == 0 ? "P" : "W") + String(repeating: "0", count: 14 - digits.count) + digits + "\n"
            if got != want {
                return XCTFail("\(path): record \(n) is \(got.debugDescription), expected \(want.debugDescription)")
            }
        }
    }

    /// The shared mappings of `pid` as /proc/PID/maps shows them: range,
    /// protection and name ("/dev/zero (deleted)" for shared anonymous
    /// memory), without the inode, which is new after a restore.
    private func sharedMappings(_ pid: pid_t) -> [String] {
        (readTextFile("/proc/\(pid)/maps") ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard f.count >= 2, f[1].hasSuffix("s") else { return nil }
            return "\(f[0]) \(f[1]) \(f.count > 5 ? f[5].trimmingCharacters(in: .whitespaces) : "")"
        }
    }
}
