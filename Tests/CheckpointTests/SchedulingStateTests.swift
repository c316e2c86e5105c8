@testable import Checkpoint
import Ptrace
import Glibc
import XCTest

/// The I/O priority a thread has without anyone setting it, which the
/// image leaves out so the restored thread goes on deriving it.
final class SchedulingStateTests: XCTestCase {
    func testDerivedIOPriorityFollowsPolicyAndNice() {
        func derived(_ policy: UInt32, _ nice: Int32) -> Int32 {
            SchedulingState.derivedIOPriority(SchedulingAttributes(policy: policy, flags: 0, nice: nice, priority: 0))
        }
        XCTAssertEqual(derived(0, 0), 2 << 13 | 4, "best effort, level 4 at nice 0")
        XCTAssertEqual(derived(3, 19), 2 << 13 | 7, "batch at nice 19: best effort, level 7")
        XCTAssertEqual(derived(0, -20), 2 << 13 | 0)
        XCTAssertEqual(derived(5, 0), 3 << 13 | 4, "SCHED_IDLE: idle class")
        XCTAssertEqual(derived(1, 0), 1 << 13 | 4, "SCHED_FIFO: real-time class")
        XCTAssertEqual(derived(2, 10), 1 << 13 | 6, "SCHED_RR: real-time class")
    }

    /// This test process's main thread, read as a dump reads a thread.
    func testReadingThisThread() throws {
        let state = try SchedulingState.read(tid: getpid())
        XCTAssertEqual(state.attributes, try Scheduling.attributes(of: getpid()))
        XCTAssertFalse(state.cpus.isEmpty)
        XCTAssertEqual(state.cpus, state.cpus.sorted())
    }
}
