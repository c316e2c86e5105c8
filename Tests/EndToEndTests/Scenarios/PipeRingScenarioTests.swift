import Glibc
import XCTest

/// Four processes pass numbered tokens around a ring of pipes, most of the
/// tokens waiting in the pipes when the tree is checkpointed. Every node
/// checks that its tokens count up by one, so after the restore a token
/// lost, repeated or reordered in any pipe is a failure reported by the
/// node that reads it.
final class PipeRingScenarioTests: EndToEndCase {
    func testTokensGoRoundTheRingWithoutLossOrRepeatAcrossRestore() throws {
        let ring = try startFixture("ring")
        defer { try? stopTree(ring.pid) }
        for node in 0..<4 {
            try ring.waitFor("node \(node) at 400", timeout: 10) { progress(in: $0, of: "node \(node)") >= 400 }
        }
        let before = treeIdentity(ring.pid)
        XCTAssertEqual(before.count, 4, "the four nodes: \(before)")
        XCTAssertEqual(Set(before.map(\.ppid)).count, 4, "a chain: every node the parent of the next: \(before)")

        let (image, pids) = try checkpointTree(ring)
        XCTAssertEqual(pids.sorted(), before.map(\.pid).sorted(), "the image holds the four nodes")
        // 400 tokens of 16 bytes circulate; at most one per node is held
        // in a process rather than in a pipe.
        let buffered = try ImageContents(directory: image).pipeBytes()
        XCTAssertGreaterThanOrEqual(buffered, (400 - 4) * 16, "bytes buffered in the ring's pipes at the dump")

        let mark = ring.lineCount
        let reached = (0..<4).map { progressCounts(ring, of: "node \($0)").last ?? 0 }
        try restore(image, as: ring)
        XCTAssertEqual(treeIdentity(ring.pid), before, "the ring after the restore")
        for node in 0..<4 {
            let target = reached[node] + 1000
            try ring.waitFor("node \(node) at \(target)", from: mark, timeout: 10) {
                progress(in: $0, of: "node \(node)") >= target
            }
        }
        // Each node's progress lines go on from where they were, 200 apart.
        for node in 0..<4 {
            let counts = progressCounts(ring, of: "node \(node)")
            XCTAssertEqual(counts, Array(stride(from: 200, through: counts.count * 200, by: 200)),
                           "node \(node)'s progress\n\(ring.log.tail())")
        }
        XCTAssertEqual(treeIdentity(ring.pid).map(\.pid), before.map(\.pid), "all four nodes still run")
        try stopTree(ring.pid)
        assertNoFailures(ring)
    }
}

