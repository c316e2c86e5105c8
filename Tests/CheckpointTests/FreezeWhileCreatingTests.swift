@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// Freezing processes that create children or threads without pause, over
/// and over, so that freezes land in the narrow moments inside fork() and
/// clone().
final class FreezeWhileCreatingTests: XCTestCase {
    /// PTRACE_INTERRUPT asks for one stop, and any other ptrace stop the
    /// thread reaches first uses it up: a fork reported under
    /// PTRACE_O_TRACEFORK in the moment after the kernel last looked for
    /// pending work. A freeze that let such a process go on after the
    /// fork, waiting for a stop that was no longer coming, left it forking
    /// children the kernel held stopped, until it waited on one for good
    /// and the freeze timed out; a forker that counts its children failed
    /// first. About one freeze in two thousand lands in that moment.
    func testAProcessForkingWithoutPauseIsFrozenEveryTime() throws {
        try freezeRepeatedly("forker", ["--no-pause"]) { _ in nil }
    }

    /// posix_spawn makes its child with vfork semantics: the parent sleeps
    /// where no stop reaches it until the child has exec'd. A child the
    /// kernel attached at the vfork and held at its first stop kept the
    /// parent from ever stopping, and the freeze timed out (about one
    /// freeze in forty here).
    func testAProcessSpawningWithoutPauseIsFrozenEveryTime() throws {
        try freezeRepeatedly("forker", ["--spawn"]) { _ in nil }
    }

    /// A thread cloned while its process is being frozen is attached by
    /// the kernel and must be among the process's frozen threads, or the
    /// image would lack it.
    func testAProcessMakingThreadsWithoutPauseIsFrozenWhole() throws {
        try freezeRepeatedly("cloner", []) { tree in Self.notWholeAndStopped(tree) }
    }

    /// A thread other than the leader that execs takes the leader's TID,
    /// and the kernel kills every other thread on the way, the leader
    /// included, without telling the tracer. A freeze caught in it waited
    /// on a TID that no longer existed (ECHILD), or counted the new image
    /// as stopped because the old leader had been.
    ///
    /// The exec also waits for every thread it kills that crtool traces
    /// to be reaped, while a PTRACE_SEIZE of a thread of that process
    /// waits for the exec: the freeze hung for good within a few dozen
    /// freezes until another thread reaped for it. In that storm of
    /// execs a freeze may still fail now and then (the process is let
    /// go as it was), but never hang or freeze a part of the process.
    func testAProcessExecingFromAThreadIsFrozenWhole() throws {
        try freezeRepeatedly("cloner", ["--exec"], failuresAllowed: 0.001, atLeast: 2000) { tree in Self.notWholeAndStopped(tree) }
    }

    /// What is wrong with the frozen root process: a live thread that is
    /// not among the frozen ones, or a frozen one that is not in a ptrace
    /// stop. Nil when it is whole and stopped.
    private static func notWholeAndStopped(_ tree: FrozenTree) -> String? {
        guard let process = tree.processes.first else { return "no process frozen" }
        let frozen = Set(process.threads.map(\.tid))
        var states: [Int32: String] = [:]
        for tid in (try? ProcDirectory.threads(pid: process.pid)) ?? [] {
            states[tid] = (try? ProcStatus.read(pid: process.pid, tid: tid))?.state ?? "gone"
        }
        let live = states.filter { !$0.value.hasPrefix("Z") && !$0.value.hasPrefix("X") && $0.value != "gone" }
        let missing = Set(live.keys).subtracting(frozen)
        if !missing.isEmpty { return "threads \(missing.sorted()) are not among the frozen ones (frozen: \(frozen.sorted()))" }
        let running = frozen.filter { !(states[$0] ?? "gone").hasPrefix("t") }
        if !running.isEmpty {
            return "frozen threads are not in a ptrace stop: " + running.sorted().map { "\($0) (\(states[$0] ?? "gone"))" }.joined(separator: ", ")
        }
        return nil
    }

    /// Starts fixture `name`, then freezes it and lets it go up to
    /// `freezes` times on one thread (ptrace's rule); `check` looks at
    /// each frozen tree and returns what is wrong with it. Fails at the
    /// first freeze that throws or is found wrong.
    private func freezeRepeatedly(_ name: String, _ arguments: [String], failuresAllowed: Double = 0, atLeast: Int = freezes / 4,
                                  check: @escaping (FrozenTree) throws -> String?) throws {
        let fixture = Process()
        fixture.executableURL = URL(fileURLWithPath: Self.productsDirectory + "/fixture-" + name)
        fixture.arguments = arguments
        let out = Pipe()
        fixture.standardOutput = out
        try fixture.run()
        // SIGKILL: a fixture caught in an exec that a stuck freeze holds
        // up would not act on SIGTERM.
        defer { kill(fixture.processIdentifier, SIGKILL); fixture.waitUntilExit() }
        let first = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertTrue(first.hasPrefix("ready"), first)
        let pid = fixture.processIdentifier

        // Written by the freezing thread before it signals, read after.
        final class Outcome: @unchecked Sendable {
            var freezes = 0
            var failure: String?
            /// Freezes that threw and let the process go.
            var refused: [String] = []
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let deadline = Date().addingTimeInterval(Self.seconds)
            while outcome.freezes < Self.freezes && Date() < deadline {
                let tree = FrozenTree(root: pid, timeout: 2)
                do {
                    try tree.freeze()
                    let wrong = try check(tree)
                    tree.release()
                    if let wrong {
                        outcome.failure = "freeze \(outcome.freezes + 1): \(wrong)"
                        break
                    }
                } catch {
                    tree.release()
                    outcome.refused.append("freeze \(outcome.freezes + 1): \(error)")
                    if Double(outcome.refused.count) > failuresAllowed * Double(Self.freezes) {
                        outcome.failure = outcome.refused.joined(separator: "; ")
                        break
                    }
                }
                outcome.freezes += 1
            }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + Self.seconds + 30), .success, "the freezes did not finish")
        XCTAssertNil(outcome.failure)
        if !outcome.refused.isEmpty { print("\(name) \(arguments): \(outcome.refused.count) freezes failed: \(outcome.refused.joined(separator: "; "))") }
        XCTAssertGreaterThanOrEqual(outcome.freezes, atLeast, "freezes done within \(Self.seconds) s")
        XCTAssertTrue(fixture.isRunning, "\(name) runs on after every freeze")
    }

    /// Enough that a freeze landing in the narrow moment is all but
    /// certain to happen (a freeze takes about half a millisecond here);
    /// a slow machine stops at the time limit, after a quarter of them at
    /// least (2000 of the slower freezes of a process that execs).
    static let freezes = 20_000
    static let seconds = 30.0

    /// SwiftPM builds the fixtures beside the test bundle.
    static let productsDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
}
