@testable import Checkpoint
import Foundation
import Glibc
import XCTest

/// PTRACE_INTERRUPT asks for one stop, and any other ptrace stop the
/// thread reaches first uses it up: a fork reported under
/// PTRACE_O_TRACEFORK in the narrow moment after the kernel last looked
/// for pending work. A freeze that let such a process go on after the
/// fork, waiting for a stop that was no longer coming, left it forking
/// children the kernel held stopped, until it waited on one for good and
/// the freeze timed out; a forker that counts its children failed first.
/// About one freeze in two thousand lands in that moment, so this freezes
/// a process that forks without pause over and over.
final class ForkingFreezeTests: XCTestCase {
    func testAProcessForkingWithoutPauseIsFrozenEveryTime() throws {
        let forker = Process()
        forker.executableURL = URL(fileURLWithPath: Self.productsDirectory + "/fixture-forker")
        forker.arguments = ["--no-pause"]
        let out = Pipe()
        forker.standardOutput = out
        try forker.run()
        defer { forker.terminate(); forker.waitUntilExit() }
        let first = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertTrue(first.hasPrefix("ready"), first)
        let pid = forker.processIdentifier

        // Written by the freezing thread before it signals, read after.
        final class Outcome: @unchecked Sendable {
            var freezes = 0
            var failure: String?
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let deadline = Date().addingTimeInterval(Self.seconds)
            while outcome.freezes < Self.freezes && Date() < deadline {
                let tree = FrozenTree(root: pid, timeout: 2)
                do {
                    try tree.freeze()
                } catch {
                    outcome.failure = "freeze \(outcome.freezes + 1): \(error)"
                    break
                }
                tree.release(kill: false)
                outcome.freezes += 1
            }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + Self.seconds + 30), .success, "the freezes did not finish")
        XCTAssertNil(outcome.failure)
        XCTAssertGreaterThanOrEqual(outcome.freezes, Self.freezes / 4, "freezes done within \(Self.seconds) s")
        XCTAssertTrue(forker.isRunning, "the forker runs on after every freeze")
    }

    /// Enough that a freeze landing inside fork() is all but certain to
    /// happen (a freeze takes about half a millisecond here); a slow
    /// machine stops at the time limit, after a quarter of them at least.
    static let freezes = 20_000
    static let seconds = 30.0

    /// SwiftPM builds the fixtures beside the test bundle.
    static let productsDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
}
