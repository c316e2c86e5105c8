@testable import Checkpoint
import Foundation
import Ptrace
import XCTest

/// A user namespace's maps as the kernel takes them, and what a restore
/// cannot yet make inside a user namespace, named by process and field
/// so that the dump and the restore refuse it with the same words.
final class UserNamespaceLayoutTests: XCTestCase {
    private let user: UInt64 = 4026532500

    func testMapsAreReadAsTheKernelWritesThem() throws {
        let map = try IDMap.parse("         0       1000          1\n         1     100000      65536\n", file: "uid_map")
        XCTAssertEqual(map, [IDMapping(inside: 0, outside: 1000, count: 1), IDMapping(inside: 1, outside: 100000, count: 65536)])
        XCTAssertEqual(IDMap.text(map), "0 1000 1\n1 100000 65536\n")
        XCTAssertEqual(try IDMap.parse("", file: "uid_map"), [], "a map never written")
        XCTAssertThrowsError(try IDMap.parse("0 1000\n", file: "uid_map"))
        XCTAssertThrowsError(try IDMap.parse("0 -1 1\n", file: "uid_map"))
    }

    func testMapsTheKernelWouldRefuseAreNamed() {
        XCTAssertNil(IDMap.problem([]))
        XCTAssertNil(IDMap.problem([IDMapping(inside: 0, outside: 1000, count: 1), IDMapping(inside: 1, outside: 100000, count: 65536)]))
        XCTAssertEqual(IDMap.problem([IDMapping(inside: 0, outside: 0, count: 0)]), "line 0 (0 0 0) is no range of ids")
        XCTAssertEqual(IDMap.problem([IDMapping(inside: 4_294_967_295, outside: 0, count: 2)]), "line 0 (4294967295 0 2) is no range of ids")
        XCTAssertEqual(IDMap.problem([IDMapping(inside: 0, outside: 1000, count: 10), IDMapping(inside: 5, outside: 5000, count: 1)]),
                       "line 1 (5 5000 1) overlaps another", "inside")
        XCTAssertEqual(IDMap.problem([IDMapping(inside: 0, outside: 1000, count: 10), IDMapping(inside: 50, outside: 1009, count: 1)]),
                       "line 1 (50 1009 1) overlaps another", "outside")
        let many = (0..<341).map { IDMapping(inside: UInt32($0), outside: UInt32(1000 + $0), count: 1) }
        XCTAssertEqual(IDMap.problem(many), "341 lines (at most 340)")
    }

    /// `unshare --user --map-root-user --mount --net`, dumped from the
    /// process: one thread, its mount and network namespaces made inside
    /// its user namespace.
    private func tree() -> (processes: [ProcessImage], saved: [NamespaceImage]) {
        var p = ProcessImage.testing(pid: 100)
        p.ppid = 1
        p.threads = [ThreadImage(tid: 100, name: "t", registers: Registers(), extendedState: Data(), signalMask: 0, pendingSignals: [],
                                 robustListHead: 0, robustListLength: 0, clearChildTid: 0, alternateStack: .disabled)]
        p.namespaces = NamespaceMembership(net: 2, mnt: 3)
        p.namespaces?.user = user
        var userNamespace = NamespaceImage(kind: .user, id: user)
        userNamespace.uidMap = [IDMapping(inside: 0, outside: 0, count: 1)]
        var net = NamespaceImage(kind: .net, id: 2, loopbackUp: true)
        net.owner = user
        var mnt = NamespaceImage(kind: .mnt, id: 3)
        mnt.mounts = [SavedMount(mountPoint: "/", parent: nil, origin: .host, fsType: "ext4", source: "/dev/root", root: "/", flags: [], propagation: [])]
        mnt.owner = user
        return ([p], [userNamespace, net, mnt])
    }

    func testAProcessWhoseNamespacesItsUserNamespaceOwnsPasses() {
        let (processes, saved) = tree()
        XCTAssertNil(UserNamespaceLayout.problem(processes: processes, saved: saved))
    }

    /// A PID namespace a user namespace owns is made from inside it: its
    /// first process is born there, with its pid in crtool's namespace
    /// from ns_last_pid, which crtool can set only in its own; its threads
    /// too.
    func testAPidNamespaceMadeInsideAUserNamespaceMustBeDirectlyBelowCrtoolsWithItsFirstProcessInside() {
        var (processes, saved) = tree()
        var parent = processes[0]
        parent.pid = 99
        processes[0].ppid = 99
        var second = processes[0].threads[0]
        second.tid = 101
        processes[0].threads.append(second)
        processes[0].namespaces?.pid = 4
        processes[0].namespacePids = [100, 1]
        processes.insert(parent, at: 0)
        var pid = NamespaceImage(kind: .pid, id: 4)
        pid.owner = user
        saved.append(pid)
        XCTAssertNil(UserNamespaceLayout.problem(processes: processes, saved: saved), "first process inside, threads and all")

        processes[1].namespacePids = [100, 7, 1]
        var problem = UserNamespaceLayout.problem(processes: processes, saved: saved)
        XCTAssertEqual(problem?.pid, 100)
        XCTAssertEqual(problem?.field, "namespacePids")
        XCTAssertTrue(problem?.reason.contains("pid:[4] was made inside user:[\(user)] and is not directly below") == true, "\(String(describing: problem))")

        processes[1].namespacePids = [100, 1]
        XCTAssertNil(UserNamespaceLayout.problem(processes: Array(processes.dropFirst()), saved: saved),
                     "the root of the tree, made from a stand-in for its parent")

        processes[1].namespaces?.user = nil
        problem = UserNamespaceLayout.problem(processes: processes, saved: saved)
        XCTAssertEqual(problem?.field, "namespaces.user")
        XCTAssertTrue(problem?.reason.contains("first process of pid:[4], which user:[\(user)] owns") == true, "\(String(describing: problem))")
    }

    /// Threads get their ids from ns_last_pid, which crtool can set only
    /// in its own PID namespace, and from clone3 in the PID namespaces
    /// their user namespace owns: not in one crtool's owns.
    func testThreadsInsideAUserNamespaceAndAPidNamespaceItDoesNotOwnAreNamed() {
        var (processes, saved) = tree()
        var second = processes[0].threads[0]
        second.tid = 101
        processes[0].threads.append(second)
        XCTAssertNil(UserNamespaceLayout.problem(processes: processes, saved: saved), "in crtool's PID namespace")
        processes[0].namespaces?.pid = 4
        processes[0].namespacePids = [100, 2]
        saved.append(NamespaceImage(kind: .pid, id: 4))
        let problem = UserNamespaceLayout.problem(processes: processes, saved: saved)
        XCTAssertEqual(problem?.field, "threads")
        XCTAssertTrue(problem?.reason.contains("which that user namespace does not own") == true, "\(String(describing: problem))")
        processes[0].namespaces?.user = nil
        saved[1].owner = nil
        saved[2].owner = nil
        XCTAssertNil(UserNamespaceLayout.problem(processes: processes, saved: saved), "threads outside any user namespace of the tree's")
    }

    func testATimeNamespaceMadeInsideOnlyForChildrenIsNamed() {
        var (processes, saved) = tree()
        processes[0].namespaces?.timeForChildren = 5
        var time = NamespaceImage(kind: .time, id: 5)
        time.owner = user
        saved.append(time)
        XCTAssertEqual(UserNamespaceLayout.problem(processes: processes, saved: saved)?.field, "namespaces.timeForChildren")
        processes[0].namespaces?.time = 5
        processes[0].namespaces?.timeForChildren = nil
        XCTAssertNil(UserNamespaceLayout.problem(processes: processes, saved: saved), "one it entered")
    }
}
