@testable import Checkpoint
import Ptrace
import XCTest

/// `restore --cgroup-root`: what it takes, and how it moves a tree's
/// cgroups.
final class CgroupRootChangeTests: XCTestCase {
    func testTheFormIsAnOptionalControllerAndAPlainAbsolutePath() {
        XCTAssertEqual(CgroupRootChange("/box"), CgroupRootChange(controller: nil, path: "/box"))
        XCTAssertEqual(CgroupRootChange("memory:/a/b"), CgroupRootChange(controller: "memory", path: "/a/b"))
        XCTAssertEqual(CgroupRootChange("name=systemd:/"), CgroupRootChange(controller: "name=systemd", path: "/"))
        for bad in ["box", "memory:box", ":/box", "cpu,cpuacct:/box", "/a/../b", "/a/./b", "/a//b", "memory:", ""] {
            XCTAssertNil(CgroupRootChange(bad), bad)
        }
    }

    func testACgroupMovesWithTheOneItIsAtOrBelow() {
        XCTAssertEqual(MountedPath.moved("/box", from: "/box", to: "/new"), "/new")
        XCTAssertEqual(MountedPath.moved("/box/app/x", from: "/box", to: "/new"), "/new/app/x")
        XCTAssertEqual(MountedPath.moved("/app", from: "/", to: "/new"), "/new/app")
        XCTAssertEqual(MountedPath.moved("/box/app", from: "/box", to: "/"), "/app")
        XCTAssertNil(MountedPath.moved("/boxes", from: "/box", to: "/new"), "only whole components")
        XCTAssertNil(MountedPath.moved("/other", from: "/box", to: "/new"))
    }

    func testTheTreeIsMovedFromItsRootsCgroupsOrItsNamespacesRoot() throws {
        var root = ProcessImage.testing(pid: 10)
        root.cgroups = [CgroupMembership(controllers: "memory", path: "/jobs/one"), CgroupMembership(controllers: "", path: "/box/init.scope")]
        root.namespaces = NamespaceMembership()
        root.namespaces?.cgroup = 7
        var child = ProcessImage.testing(pid: 11)
        child.cgroups = [CgroupMembership(controllers: "memory", path: "/jobs/one/worker"), CgroupMembership(controllers: "", path: "/elsewhere")]
        var namespace = NamespaceImage(kind: .cgroup, id: 7)
        namespace.cgroupRoots = [CgroupMembership(controllers: "", path: "/box")]
        var plan = RestorePlan(processes: [root, child], zombies: [], sharedMemory: [], namespaces: [namespace])
        plan.cgroups = [CgroupImage(controllers: "memory", path: "/jobs/one/worker", settings: [CgroupSetting(name: "pids.max", value: "5")]),
                        CgroupImage(controllers: "", path: "/box", settings: [])]

        let given = try CgroupRootChange.apply([CgroupRootChange(controller: "unified", path: "/new"), CgroupRootChange(controller: nil, path: "/moved")], to: &plan, mounts: [])
        XCTAssertEqual(given, [CgroupMembership(controllers: "memory", path: "/moved"), CgroupMembership(controllers: "", path: "/new")])
        XCTAssertEqual(plan.processes[0].cgroups, [CgroupMembership(controllers: "memory", path: "/moved"), CgroupMembership(controllers: "", path: "/new/init.scope")],
                       "unified from the namespace's root, memory from the root's own cgroup")
        XCTAssertEqual(plan.processes[1].cgroups, [CgroupMembership(controllers: "memory", path: "/moved/worker"), CgroupMembership(controllers: "", path: "/elsewhere")],
                       "a cgroup outside the tree's root is kept")
        XCTAssertEqual(plan.namespaces[0].cgroupRoots, [CgroupMembership(controllers: "", path: "/new")])
        XCTAssertEqual(plan.cgroups.map(\.membership), [CgroupMembership(controllers: "memory", path: "/moved/worker"), CgroupMembership(controllers: "", path: "/new")],
                       "the saved settings go with their cgroups")
    }

    func testWhatCannotBeMovedIsRefusedByName() {
        var root = ProcessImage.testing(pid: 10)
        root.cgroups = [CgroupMembership(controllers: "cpu,cpuacct", path: "/a")]
        var plan = RestorePlan(processes: [root], zombies: [], sharedMemory: [])
        func refusal(_ changes: [CgroupRootChange]) -> String {
            do {
                _ = try CgroupRootChange.apply(changes, to: &plan, mounts: [])
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(try CgroupRootChange.apply([CgroupRootChange(controller: "cpuacct", path: "/b")], to: &plan, mounts: []).map(\.path), ["/b"],
                       "a controller names the hierarchy it is one of")
        XCTAssertTrue(refusal([CgroupRootChange(controller: "memory", path: "/b")]).contains("no hierarchy with the controller memory (it was in cpu,cpuacct)"))
        XCTAssertTrue(refusal([CgroupRootChange(controller: nil, path: "/b"), CgroupRootChange(controller: nil, path: "/c")]).contains("given twice for every hierarchy"))
        plan.processes[0].cgroups = nil
        XCTAssertTrue(refusal([CgroupRootChange(controller: nil, path: "/b")]).contains("the image records no cgroup of its processes"))
    }
}
