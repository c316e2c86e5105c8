import Glibc
import XCTest

/// A tree that forks all the time is frozen whole: children born while it
/// is being seized are caught, and the restored tree forks and reaps on.
final class ForkDuringDumpTests: EndToEndCase {
    func testTreeForkingDuringTheFreezeComesBackWhole() throws {
        let forker = try startFixture("forker", [])
        try forker.waitFor("forked", atLeast: 100)
        for round in 0..<2 {
            let children = Set(ProcessTable.descendants(of: forker.pid))
            let image = try checkpoint(forker)
            let manifest = try XCTUnwrap(readTextFile(image + "/manifest.json"))
            XCTAssertTrue(manifest.contains("\"pid\" : \(forker.pid)"), "round \(round): the forker is in the image")
            for pid in children { _ = try? waitForExit(pid, timeout: 5) }
            for pid in ProcessTable.descendants(of: getpid()) where pid != forker.pid && !ProcessTable.isAlive(pid) {
                _ = try? waitForExit(pid, timeout: 1)
            }
            let mark = forker.lineCount
            let last = try XCTUnwrap(forker.numbers("forked").last)
            try restore(image, as: forker)
            try forker.waitFor("forked", atLeast: last + 150, from: mark)
        }
        let all = [forker.pid] + ProcessTable.descendants(of: forker.pid)
        for pid in all { Glibc.kill(pid, SIGSTOP) }
        for pid in all { Glibc.kill(pid, SIGKILL) }
        for pid in all { try? killAndReap(pid) }
        assertNoFailures(forker)
    }
}
