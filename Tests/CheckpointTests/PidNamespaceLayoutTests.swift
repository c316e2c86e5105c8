@testable import Checkpoint
import Foundation
import Ptrace
import XCTest

/// The one shape of PID namespaces crtool makes again: each made from
/// its first process (pid 1 in it), forked in the namespace it is inside
/// (crtool's or one of the tree's), the others forked inside it. Anything else is named by process and field, so the
/// dump and the restore refuse it with the same words.
final class PidNamespaceLayoutTests: XCTestCase {
    private let namespace: UInt64 = 4026532999

    /// A process with one thread (its leader), in `namespace` with `inner`
    /// as its pid there when given.
    private func process(_ pid: Int32, parent: Int32, inner: Int32? = nil, threads: [(Int32, Int32?)] = []) -> ProcessImage {
        var p = ProcessImage.testing(pid: pid)
        p.ppid = parent
        let leader = ThreadImage(tid: pid, name: "t", registers: Registers(), extendedState: Data(), signalMask: 0, pendingSignals: [],
                                 robustListHead: 0, robustListLength: 0, clearChildTid: 0, alternateStack: .disabled)
        p.threads = [leader] + threads.map { tid, _ in
            var t = leader
            t.tid = tid
            return t
        }
        if let inner {
            p.namespaces = NamespaceMembership(pid: namespace)
            p.namespacePids = [pid, inner]
            p.threads[0].namespaceTids = [pid, inner]
            for (i, (tid, own)) in threads.enumerated() { p.threads[i + 1].namespaceTids = own.map { [tid, $0] } }
        }
        return p
    }

    /// The shape unshare --pid --fork makes, dumped from unshare: it
    /// bears its children in the namespace, whose first process has a
    /// child and a thread.
    private func tree() -> [ProcessImage] {
        var unshare = process(100, parent: 1)
        unshare.namespaces = NamespaceMembership()
        unshare.namespaces?.pidForChildren = namespace
        return [unshare, process(101, parent: 100, inner: 1, threads: [(103, 3)]), process(102, parent: 101, inner: 2)]
    }

    private func zombie(_ pid: Int32, parent: Int32, inner: Int32?) -> ZombieImage {
        var z = ZombieImage(pid: pid, ppid: parent, pgid: pid, sid: pid, command: "z", exitStatus: 0)
        z.namespacePids = inner.map { [pid, $0] }
        return z
    }

    private func problem(_ processes: [ProcessImage], zombies: [ZombieImage] = []) -> PidNamespaceLayout.Problem? {
        PidNamespaceLayout.problem(processes: processes, zombies: zombies)
    }

    func testTheShapeUnshareMakesPasses() {
        XCTAssertNil(problem(tree(), zombies: [zombie(104, parent: 102, inner: 4), zombie(105, parent: 100, inner: nil)]))
        XCTAssertNil(problem(Array(tree().dropFirst())), "the namespace's first process as the root")
        XCTAssertNil(problem([process(7, parent: 1)]), "no PID namespace at all")
    }

    func testEachMisplacedProcessIsNamedWithItsField() {
        func assertProblem(_ change: (inout [ProcessImage]) -> Void, pid: Int32, field: String, saying text: String,
                           line: UInt = #line) {
            var processes = tree()
            change(&processes)
            let found = problem(processes)
            XCTAssertEqual(found?.pid, pid, "\(String(describing: found))", line: line)
            XCTAssertEqual(found?.field, field, line: line)
            XCTAssertTrue(found?.reason.contains(text) == true, "\(String(describing: found?.reason))", line: line)
        }
        assertProblem({ $0[2].namespacePids = [102] }, pid: 102, field: "namespacePids", saying: "then a positive one")
        assertProblem({ $0[2].namespacePids = [999, 2] }, pid: 102, field: "namespacePids", saying: "(102)")
        assertProblem({ $0[2].namespacePids = [102, 2, 3] }, pid: 102, field: "namespacePids", saying: "then a positive one")
        assertProblem({ $0[2].namespacePids = [102, 0] }, pid: 102, field: "namespacePids", saying: "positive")
        assertProblem({ $0[2].namespacePids = nil }, pid: 102, field: "namespacePids", saying: "needs its pid")
        assertProblem({ $0[0].namespacePids = [100, 5] }, pid: 100, field: "namespacePids", saying: "has no other pid")
        assertProblem({ $0[0].threads[0].namespaceTids = [100, 5] }, pid: 100, field: "threads[tid 100].namespaceTids", saying: "has no other tid")
        assertProblem({ $0[1].threads[1].namespaceTids = [103, 1] }, pid: 101, field: "threads[tid 103].namespaceTids", saying: "tid 1 is taken twice")
        assertProblem({ $0[1].threads[1].namespaceTids = nil }, pid: 101, field: "threads[tid 103].namespaceTids", saying: "needs its tid")
        assertProblem({ $0[1].threads[0].namespaceTids = [101, 7] }, pid: 101, field: "threads[tid 101].namespaceTids", saying: "the main thread's tids")
        // A second first process, forked inside the namespace.
        assertProblem({ $0[2].namespacePids = [102, 1] }, pid: 102, field: "namespacePids", saying: "pid 1 is taken twice")
        // Forked outside, then moved in by its parent's setns.
        assertProblem({ $0[2].ppid = 100 }, pid: 102, field: "namespaces.pid", saying: "entered pid:[\(namespace)] from its parent 100's (setns)")
        // The namespace's first process left out of the tree.
        assertProblem({ $0.remove(at: 1); $0[1].ppid = 50 }, pid: 102, field: "namespaces.pid", saying: "whose first process (pid 1 in it) is not in the tree; crtool makes a PID namespace again by forking that process: dump the tree from it")
        assertProblem({ $0[0].namespaces?.pidForChildren = 4026533000 }, pid: 100, field: "namespaces.pidForChildren", saying: "pid:[4026533000]")
    }

    /// `tree()` with unshare --pid --fork run by the namespace's first
    /// process: a second namespace inside the first, whose first process
    /// 106 (4 in the outer one) has a child 107 (5, then 2).
    private func nestedTree() -> [ProcessImage] {
        var processes = tree()
        processes[1].namespaces?.pidForChildren = namespace + 1
        func nested(_ pid: Int32, parent: Int32, ids: [Int32]) -> ProcessImage {
            var p = process(pid, parent: parent, inner: ids[1])
            p.namespaces?.pid = namespace + 1
            p.namespacePids = ids
            p.threads[0].namespaceTids = ids
            return p
        }
        return processes + [nested(106, parent: 101, ids: [106, 4, 1]), nested(107, parent: 106, ids: [107, 5, 2])]
    }

    func testANamespaceInsideAnotherPassesWithAPidInEachLevel() {
        XCTAssertNil(problem(nestedTree(), zombies: [zombie(108, parent: 107, inner: nil).with([108, 6, 3])]))
        XCTAssertNil(problem(Array(nestedTree().dropFirst())), "the outer namespace's first process as the root")
        let found = problem(Array(nestedTree().dropFirst(3)))
        XCTAssertEqual(found?.pid, 106)
        XCTAssertTrue(found?.reason.contains("2 levels below crtool's, and the namespace that one is inside has its own first process outside the tree") == true,
                      "\(String(describing: found))")
    }

    func testANamespaceInsideAnotherNamesWhatIsWrong() {
        func assertProblem(_ change: (inout [ProcessImage]) -> Void, zombies: [ZombieImage] = [], pid: Int32, field: String, saying text: String,
                           line: UInt = #line) {
            var processes = nestedTree()
            change(&processes)
            let found = problem(processes, zombies: zombies)
            XCTAssertEqual(found?.pid, pid, "\(String(describing: found))", line: line)
            XCTAssertEqual(found?.field, field, line: line)
            XCTAssertTrue(found?.reason.contains(text) == true, "\(String(describing: found?.reason))", line: line)
        }
        assertProblem({ $0[4].namespacePids = [107, 2] }, pid: 107, field: "namespacePids", saying: "a positive one in each namespace down to its own (2 below crtool's)")
        assertProblem({ $0[4].namespacePids = [107, 2, 2]; $0[4].threads[0].namespaceTids = [107, 2, 2] }, pid: 107, field: "namespacePids",
                      saying: "pid 2 is taken twice in pid:[\(namespace)]")
        assertProblem({ $0[4].threads[0].namespaceTids = [107, 5] }, pid: 107, field: "threads[tid 107].namespaceTids", saying: "needs its tid")
        assertProblem({ $0[0].namespaces?.pidForChildren = namespace + 1 }, pid: 100, field: "namespaces.pidForChildren",
                      saying: "pid:[\(namespace + 1)], which is not a PID namespace of the tree directly inside its own")
        assertProblem({ _ in }, zombies: [zombie(108, parent: 107, inner: 6)], pid: 108, field: "namespacePids", saying: "then one in each namespace down to its parent's")
        assertProblem({ _ in }, zombies: [zombie(108, parent: 102, inner: nil).with([108, 4, 1])], pid: 108, field: "namespacePids", saying: "ended with it")
        // Each namespace's first process forked from the other's: no
        // namespace is inside crtool's.
        assertProblem({ $0[1].ppid = 106; $0.removeFirst() }, pid: 101, field: "namespaces.pid", saying: "whose first process (pid 1 in it) is not in the tree")
    }

    func testPidsAreTranslatedThroughEachLevel() {
        let processes = nestedTree()
        func id(_ host: Int32, seenBy viewer: Int) -> Int32? {
            PidNamespaceLayout.id(host, seenBy: processes[viewer], in: processes, zombies: [])
        }
        XCTAssertEqual(id(107, seenBy: 0), 107)
        XCTAssertEqual(id(107, seenBy: 1), 5, "the outer namespace numbers the inner one's processes")
        XCTAssertEqual(id(107, seenBy: 3), 2)
        XCTAssertEqual(id(106, seenBy: 4), 1)
        XCTAssertNil(id(101, seenBy: 3), "the outer namespace's process, from the inner one")
        XCTAssertNil(id(100, seenBy: 1))
    }

    func testZombiesAreNamedInTheirParentsNamespace() {
        XCTAssertEqual(problem(tree(), zombies: [zombie(104, parent: 102, inner: nil)])?.field, "namespacePids")
        XCTAssertEqual(problem(tree(), zombies: [zombie(104, parent: 102, inner: 2)])?.reason.contains("taken twice"), true)
        XCTAssertEqual(problem(tree(), zombies: [zombie(104, parent: 102, inner: 1)])?.zombie, true)
        XCTAssertEqual(problem(tree(), zombies: [zombie(104, parent: 100, inner: 9)])?.reason.contains("ended with it"), true)
    }

    func testPidsAreTranslatedForTheProcessThatNamesThem() {
        let processes = tree()
        let zombies = [zombie(104, parent: 102, inner: 4)]
        func id(_ host: Int32, seenBy viewer: Int) -> Int32? {
            PidNamespaceLayout.id(host, seenBy: processes[viewer], in: processes, zombies: zombies)
        }
        XCTAssertEqual(id(102, seenBy: 0), 102, "crtool's namespace sees crtool's pids")
        XCTAssertEqual(id(102, seenBy: 2), 2)
        XCTAssertEqual(id(101, seenBy: 2), 1)
        XCTAssertEqual(id(103, seenBy: 1), 3, "a thread")
        XCTAssertEqual(id(104, seenBy: 1), 4, "a zombie")
        XCTAssertNil(id(100, seenBy: 1), "a process outside the namespace")
    }

    func testStatusGivesThePidsOfEachNamespace() throws {
        let status = try ProcStatus.parse("Name:\tx\nTgid:\t101\nPid:\t103\nPPid:\t100\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nNStgid:\t101\t1\nNSpid:\t103\t3\n")
        XCTAssertEqual(status.namespaceIDs, [103, 3])
        XCTAssertEqual(status.namespaceGroupIDs, [101, 1])
        XCTAssertEqual(try ProcStatus.parse("Tgid:\t1\nPid:\t1\nPPid:\t0\nUid:\t0\nGid:\t0\n").namespaceIDs, [])
    }
}

private extension ZombieImage {
    func with(_ ids: [Int32]) -> ZombieImage {
        var z = self
        z.namespacePids = ids
        return z
    }
}
