import Glibc
import XCTest

/// A real python3 multiprocessing workload: a source process filling a
/// bounded multiprocessing.Queue, the main process with the pool's handler
/// threads, and a Pool of three workers fed through the pool's task and
/// result queues, the task pipe kept full. After the restore the results
/// must go on in order from the next number, each with its right value.
final class PythonPoolScenarioTests: EndToEndCase {
    func testPoolResultsContinueInOrderAfterRestore() throws {
        guard let python = BuildProducts.python3 else {
            throw HarnessError("this test needs python3: apt-get install python3 (scripts/install-deps.sh installs it)")
        }
        let script = BuildProducts.packageRoot + "/fixtures/python/pool.py"
        let pool = try startProgram("pool", python, [script])
        defer { try? stopTree(pool.pid) }
        try pool.waitFor("result", atLeast: 200)
        let before = treeIdentity(pool.pid)
        XCTAssertEqual(before.count, 5, "the main process, the source and three workers: \(before)")

        let (image, pids) = try checkpointTree(pool)
        XCTAssertEqual(pids.sorted(), before.map(\.pid).sorted())
        XCTAssertGreaterThan(try ImageContents(directory: image).pipeBytes(), 0, "tasks queued in the pool's pipes at the dump")
        let mark = pool.lineCount
        let last = try XCTUnwrap(pool.numbers("result").last)
        try restore(image, as: pool)
        XCTAssertEqual(treeIdentity(pool.pid), before, "the tree after the restore")
        let next = try pool.waitFor("a result after the restore", from: mark) { $0.hasPrefix("result ") }
        XCTAssertEqual(LogLines.number(in: next.line, after: "result"), last + 1)
        try pool.waitFor("result", atLeast: last + 300, from: mark)
        XCTAssertEqual(treeIdentity(pool.pid), before, "all five processes still run")
        try stopTree(pool.pid)
        assertNoFailures(pool)

        let results = pool.log.lines().filter { $0.hasPrefix("result ") }
        for (n, line) in results.enumerated() {
            let want = "result \(n) \(poolValue(n))"
            if line != want {
                XCTFail("result line \(n) is \(line.debugDescription), expected \(want.debugDescription)\n\(pool.log.tail())")
                break
            }
        }
    }
}

/// The fixture's work: the sum of k² for k in n..<n+2000, mod 1e9+7.
private func poolValue(_ n: Int) -> Int {
    let modulus = 1_000_000_007
    var sum = 0
    for k in n..<(n + 2000) { sum = (sum + (k * k) % modulus) % modulus }
    return sum
}
