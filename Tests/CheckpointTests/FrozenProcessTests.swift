@testable import Checkpoint
import Foundation
import Glibc
import XCTest

/// Freezing a process that has exited but is not reaped (a zombie whose
/// parent, frozen with the tree, will not reap it) gives up on it at once:
/// its task stays listed, and retrying the seize forever was a hang seen
/// about once in twenty dumps of a tree that forks all the time.
final class FrozenProcessTests: XCTestCase {
    func testAZombieIsFoundVanishedAtOnce() throws {
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The child exits once its parent has become sleep, which never
        // reaps it (the shell would, had the child exited before the exec).
        parent.arguments = ["-c", "sh -c 'until grep -q ^sleep /proc/$PPID/comm; do sleep 0.01; done' & echo $!; exec sleep 30"]
        let out = Pipe()
        parent.standardOutput = out
        try parent.run()
        defer { parent.terminate(); parent.waitUntilExit() }
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let child = try XCTUnwrap(Int32(line.trimmingCharacters(in: .whitespacesAndNewlines)), line)
        let deadline = Date().addingTimeInterval(10)
        while (try? String(contentsOfFile: "/proc/\(child)/stat"))?.contains(") Z ") != true {
            guard Date() < deadline else { return XCTFail("child \(child) did not become a zombie") }
            usleep(10_000)
        }

        // Written by the freezing thread before it signals, read after.
        final class Outcome: @unchecked Sendable { var text = "still freezing" }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do {
                try FrozenProcess(pid: child).freeze()
                outcome.text = "frozen"
            } catch is ProcessVanished {
                outcome.text = "vanished"
            } catch {
                outcome.text = "\(error)"
            }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "freezing a zombie did not return")
        XCTAssertEqual(outcome.text, "vanished")
    }
}
