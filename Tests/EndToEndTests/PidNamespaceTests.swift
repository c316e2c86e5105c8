import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// Processes in a PID namespace of their own (unshare --pid --fork, the
/// first step of any container) come back in a new one with the pids
/// they had in it as well as in crtool's: the first process is pid 1
/// again, its child and its thread have their numbers, they still signal
/// each other by them, and a process outside that made the namespace
/// still bears its children there. fixtures/namespaces/pidns.py checks
/// its pids every tick.
final class PidNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/pidns.py"

    func testTheFirstProcessOfAPidNamespaceComesBackAsPidOneWithItsOwnProc() throws {
        let unshare = try startProgram("unshare", "/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "python3", script, "--own-proc"],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let first = try XCTUnwrap(ProcessTable.children(of: unshare.pid).first)
        let program = Fixture(name: "pidns", pid: first, log: unshare.log, stderrPath: unshare.stderrPath)
        defer { try? stopTree(first) }
        let child = try XCTUnwrap(ProcessTable.children(of: first).first)
        let before = ProcessTable.namespacePids(of: [first, child])
        XCTAssertEqual(before[first]?.first, [first, 1], "\(before)")
        XCTAssertEqual(before[first]?.count, 2, "the first process and its thread: \(before)")
        try program.waitFor("child", atLeast: 3)

        let image = try checkpointOfAChildOfUnshare(program)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        XCTAssertEqual(saved.map(\.kind).sorted { $0.rawValue < $1.rawValue }, [.mnt, .pid])
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("pid 1 in its PID namespace (its first process)"), "\(shown)")
        XCTAssertTrue(shown.stdout.contains("made again by forking its first process"), "\(shown)")

        let mark = program.lineCount
        let signalsBefore = try XCTUnwrap(signalsCounted(program.log.lines()[..<mark]))
        try restore(image, as: program)
        try assertBothCountOn(program, after: mark)
        XCTAssertEqual(ProcessTable.namespacePids(of: [first, child]), before, "the pids of each task, in crtool's namespace and in its own")
        // The first process signals its child by its pid in the namespace.
        XCTAssertGreaterThan(try XCTUnwrap(signalsCounted(program.log.lines()[mark...])), signalsBefore + 3)
        let namespace = try NamespaceKind.pid.id(pid: first)
        XCTAssertNotEqual(namespace, try NamespaceKind.pid.ownID())
        XCTAssertEqual(try NamespaceKind.pid.id(pid: child), namespace)
        XCTAssertEqual(try NamespaceKind.pid.forChildrenID(pid: first), namespace)
    }

    /// util-linux's unshare keeps bearing its children in the namespace
    /// it made; dumped from unshare, the tree comes back so. A hostile
    /// edit of the pids is refused by file and field.
    func testTheProcessThatMadeTheNamespaceStillBearsItsChildrenThere() throws {
        let unshare = try startProgram("unshare", "/usr/bin/unshare", ["--pid", "--fork", "python3", script], isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let first = try XCTUnwrap(ProcessTable.children(of: unshare.pid).first)
        let child = try XCTUnwrap(ProcessTable.children(of: first).first)
        let before = ProcessTable.namespacePids(of: [unshare.pid, first, child])
        XCTAssertEqual(before[unshare.pid], [[unshare.pid]])

        let image = try checkpoint(unshare)
        let childFile = "process-\(child).json"
        let inner = try XCTUnwrap(before[child]?.first?.last)
        for (file, from, to, field) in [
            (childFile, "\"namespacePids\" : [\n    \(child),\n    \(inner)\n  ]", "\"namespacePids\" : [\n    \(child),\n    1\n  ]", "namespacePids"),
            (childFile, "\"namespacePids\" : [\n    \(child),\n    \(inner)\n  ]", "\"namespacePids\" : [\n    \(child)\n  ]", "namespacePids"),
            ("process-\(unshare.pid).json", "\"pidForChildren\" : ", "\"pidForChildren\" : 1", "namespaces.pidForChildren"),
        ] {
            try assertRestoreRefused(try editedCopy(of: image, file: file, replacing: from, with: to), pid: unshare.pid, mentioning: [file, field])
        }

        let mark = unshare.lineCount
        try restore(image, as: unshare)
        try unshare.waitForMore("tick", 5, after: mark)
        assertNoFailures(unshare)
        XCTAssertEqual(ProcessTable.namespacePids(of: [unshare.pid, first, child]), before)
        let namespace = try NamespaceKind.pid.id(pid: first)
        XCTAssertEqual(try NamespaceKind.pid.id(pid: unshare.pid), try NamespaceKind.pid.ownID())
        XCTAssertEqual(try NamespaceKind.pid.forChildrenID(pid: unshare.pid), namespace, "unshare's children are born in the namespace it made")
        XCTAssertEqual(try NamespaceKind.pid.forChildrenID(pid: first), namespace)
        // unshare waits for its child as it did, and ends with it.
        XCTAssertEqual(kill(first, SIGKILL), 0)
        XCTAssertNotNil(try waitForExit(unshare.pid, timeout: 10), "unshare did not end with its child")
    }

    /// A process of a namespace whose first process is not dumped with it
    /// could only come back in crtool's namespace, with other pids: the
    /// dump names the namespace's first process, and leaves it running.
    func testATreeWithoutItsNamespacesFirstProcessIsRefused() throws {
        let unshare = try startProgram("unshare", "/usr/bin/unshare", ["--pid", "--fork", "python3", script], isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let first = try XCTUnwrap(ProcessTable.children(of: unshare.pid).first)
        let child = try XCTUnwrap(ProcessTable.children(of: first).first)
        let program = Fixture(name: "pidns-child", pid: child, log: unshare.log, stderrPath: unshare.stderrPath)
        try assertDumpRefused(program, mentioning: ["pid \(child): it is pid ", "whose first process (pid 1 in it) is not in the tree", "dump the tree from it"],
                              namingAnFd: false)
        let mark = unshare.lineCount
        try program.waitForMore("child", 3, after: mark)
    }

    /// unshare --mount-proc makes the mount namespace in unshare and the
    /// proc in its child, the namespace's first process: dumped from
    /// unshare, the proc is mounted again by that process, so it shows
    /// the namespace (the fixture checks /proc every tick).
    func testAProcOfTheNamespaceIsMountedAgainByItsFirstProcess() throws {
        let unshare = try startProgram("unshare", "/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "python3", script, "--own-proc"],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let first = try XCTUnwrap(ProcessTable.children(of: unshare.pid).first)
        let image = try checkpoint(unshare)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let proc = try XCTUnwrap(saved.first { $0.kind == .mnt }?.mounts?.last { $0.mountPoint == "/proc" })
        XCTAssertEqual(proc.origin, .fresh)
        let namespace = try XCTUnwrap(saved.first { $0.kind == .pid }?.id)
        XCTAssertEqual(proc.pidNamespace, namespace)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("    /proc: proc made anew, "), "\(shown)")
        XCTAssertTrue(shown.stdout.contains("mounted by the first process of pid:[\(namespace)]"), "\(shown)")
        let edited = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: "\"pidNamespace\" : \(namespace)", with: "\"pidNamespace\" : 1")
        try assertRestoreRefused(edited, pid: unshare.pid, mentioning: [NamespaceImage.listFile, "pidNamespace", "no first process of pid:[1]"])
        let mark = unshare.lineCount
        try restore(image, as: unshare)
        try unshare.waitForMore("tick", 5, after: mark)
        assertNoFailures(unshare)
        var st = stat()
        XCTAssertEqual(lstat("/proc/\(first)/root/proc/1", &st), 0)
        XCTAssertEqual(try NamespaceKind.id(link: ProcFile.link("/proc/\(first)/root/proc/1/ns/pid", pid: first), path: "pid"),
                       try NamespaceKind.pid.id(pid: first), "the proc shows the namespace")
        XCTAssertNotEqual(try NamespaceKind.pid.id(pid: unshare.pid), try NamespaceKind.pid.id(pid: first))
    }

    /// A namespace made for children not forked yet has no process the
    /// restore could make it from: refused, the process left running.
    func testANamespaceWithoutAFirstProcessYetIsRefused() throws {
        let program = try startProgram("unshared", "/usr/bin/python3", ["-c", """
            import ctypes, time
            assert ctypes.CDLL(None, use_errno=True).unshare(0x20000000) == 0
            print("ready", flush=True)
            time.sleep(600)
            """])
        defer { try? stopTree(program.pid) }
        try assertDumpRefused(program, mentioning: ["pid \(program.pid) has made a PID namespace for its children", "not yet forked the first"],
                              namingAnFd: false)
    }

    /// A signal pending at the dump is queued again by the process under
    /// its own pid there, and a POSIX timer signals its thread by that
    /// thread's: the fixtures of both, as the first process of a PID
    /// namespace, carry on as they do in crtool's.
    func testPendingSignalsAndThreadTimersComeBackInsideThePidNamespace() throws {
        let signalsUnshare = try startFixture("signals", under: ["/usr/bin/unshare", "--pid", "--fork"])
        defer { try? stopTree(signalsUnshare.pid) }
        let signals = try firstProcess(under: signalsUnshare, named: "signals")
        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 1")
        try signals.signal(SIGUSR2)
        try signals.waitFor(line: "usr2 pending")
        let timersUnshare = try startFixture("timers", under: ["/usr/bin/unshare", "--pid", "--fork"])
        defer { try? stopTree(timersUnshare.pid) }
        let timers = try firstProcess(under: timersUnshare, named: "timers")
        try timers.waitFor("timers", atLeast: 2)
        let timersBefore = try XCTUnwrap(readTextFile("/proc/\(timers.pid)/timers"))
        XCTAssertTrue(timersBefore.contains("signal/tid."), timersBefore)

        for program in [signals, timers] {
            let image = try checkpointOfAChildOfUnshare(program)
            try restore(image, as: program)
        }
        sleepSeconds(0.3)
        assertNoFailures(signals)
        let mark = signals.lineCount
        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 2", from: mark)
        // Sent from outside the namespace: no sender it can name.
        try signals.waitFor(line: "usr2 delivered from 0 code \(SI_USER)", from: mark)
        let last = try XCTUnwrap(timers.numbers("timers").last)
        try timers.waitFor("timers", atLeast: last + 4)
        XCTAssertEqual(Set(try XCTUnwrap(readTextFile("/proc/\(timers.pid)/timers")).split(separator: "\n")), Set(timersBefore.split(separator: "\n")))
        assertNoFailures(timers)
    }

    /// The count in the last "child <n> signals <k>" line.
    private func signalsCounted(_ lines: ArraySlice<String>) -> Int? {
        lines.last { $0.hasPrefix("child ") && $0.contains(" signals ") }.flatMap { $0.split(separator: " ").last.flatMap { Int($0) } }
    }
}

extension EndToEndCase {
    /// pidns.py's first process and its child both tick on after `mark`,
    /// every number once, and nothing failed.
    func assertBothCountOn(_ program: Fixture, after mark: Int) throws {
        try program.waitForMore("tick", 5, after: mark)
        try program.waitForMore("child", 5, after: mark)
        assertSequence(program, "tick")
        assertSequence(program, "child")
        assertNoFailures(program)
    }
}
