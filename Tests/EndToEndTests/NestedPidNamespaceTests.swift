import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A PID namespace inside another (unshare --pid --fork run in a
/// container, a sandbox in a sandbox) comes back inside the one it was
/// in: each process has its pid in crtool's namespace and in every
/// namespace down to its own. fixtures/namespaces/pidns.py, pid 1 of the
/// inner namespace with a proc of its own, checks its pids every tick.
final class NestedPidNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/pidns.py"

    /// unshare, whose children are born in the outer namespace; its child
    /// unshare is pid 1 there and bears its children in the inner one.
    private func startNested() throws -> (outer: Fixture, inner: pid_t, first: pid_t, child: pid_t) {
        let outer = try startProgram("unshare", "/usr/bin/unshare",
                                     ["--pid", "--fork", "/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "python3", script, "--own-proc"],
                                     isReady: { $0.hasPrefix("ready") })
        let inner = try XCTUnwrap(ProcessTable.children(of: outer.pid).first)
        let first = try XCTUnwrap(ProcessTable.children(of: inner).first)
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.children(of: first).isEmpty })
        let child = try XCTUnwrap(ProcessTable.children(of: first).first)
        return (outer, inner, first, child)
    }

    func testANamespaceInsideAnotherComesBackInsideIt() throws {
        let (outer, inner, first, child) = try startNested()
        defer { try? stopTree(outer.pid) }
        let tasks = [outer.pid, inner, first, child]
        let before = ProcessTable.namespacePids(of: tasks)
        XCTAssertEqual(before[inner]?.first, [inner, 1], "\(before)")
        XCTAssertEqual(before[first]?.first?.count, 3, "crtool's, the outer namespace's and its own: \(before)")
        XCTAssertEqual(before[first]?.first?.last, 1, "\(before)")
        try outer.waitFor("child", atLeast: 3)

        let image = try checkpoint(outer)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("pid 1 in its PID namespace (its first process), \(try XCTUnwrap(before[first]?.first?[1])) in the one it is inside"),
                      shown.stdout)
        let mark = outer.lineCount
        try restore(image, as: outer)
        try assertBothCountOn(outer, after: mark)
        XCTAssertEqual(ProcessTable.namespacePids(of: tasks), before, "the pids of each task, in each namespace")
        let host = try NamespaceKind.pid.ownID()
        let outerNamespace = try NamespaceKind.pid.id(pid: inner)
        let innerNamespace = try NamespaceKind.pid.id(pid: first)
        XCTAssertEqual(Set([host, outerNamespace, innerNamespace]).count, 3)
        XCTAssertEqual(try NamespaceKind.pid.forChildrenID(pid: outer.pid), outerNamespace)
        XCTAssertEqual(try NamespaceKind.pid.forChildrenID(pid: inner), innerNamespace, "the inner namespace was made by pid 1 of the outer one")
        XCTAssertEqual(try NamespaceKind.pid.id(pid: child), innerNamespace)
    }

    /// The inner namespace's processes without the outer namespace's first
    /// process: nothing could make the outer namespace. Refused, naming
    /// what to dump, the tree left running.
    func testTheInnerNamespaceAloneIsRefused() throws {
        let (outer, _, first, _) = try startNested()
        defer { try? stopTree(outer.pid) }
        let program = Fixture(name: "pidns-inner", pid: first, log: outer.log, stderrPath: outer.stderrPath)
        try assertDumpRefused(program, mentioning: ["2 levels below crtool's", "has its own first process outside the tree; dump the tree from that one"],
                              namingAnFd: false)
    }
}
