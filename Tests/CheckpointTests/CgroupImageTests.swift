@testable import Checkpoint
import Foundation
import Ptrace
import XCTest

/// cgroups.json: which cgroups of a tree's the dump saves the settings of,
/// and what the restore refuses to write.
final class CgroupImageTests: XCTestCase {
    /// A unified hierarchy mounted on a scratch directory: its cgroups are
    /// directories of files, as the kernel's are.
    func testTheTreesCgroupsAndTheOnesBetweenAreSavedParentsFirst() throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("cgroups-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: top) }
        let files = [
            "box/pids.max": "20\n", "box/cgroup.subtree_control": "memory pids\n", "box/memory.max": "max\n",
            "box/memory.current": "4096\n", "box/cpuset.cpus": "\n", "box/hugetlb.2MB.max": "max\n", "box/hugetlb.2MB.current": "0\n",
            "box/app/worker/memory.high": "1048576\n", "box/app/memory.max": "8388608\n", "other/pids.max": "3\n",
            "pids.max": "max\n",
        ]
        for (path, text) in files {
            let file = top + "/" + path
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: false, encoding: .utf8)
        }
        let mounts = [MountEntry(major: 0, minor: 0, root: "/", mountPoint: top, fsType: "cgroup2")]
        var root = ProcessImage.testing(pid: 10)
        root.cgroups = [CgroupMembership(controllers: "", path: "/box")]
        var child = ProcessImage.testing(pid: 11)
        child.cgroups = [CgroupMembership(controllers: "", path: "/box/app/worker")]
        var stranger = ProcessImage.testing(pid: 12)
        stranger.cgroups = [CgroupMembership(controllers: "", path: "/other")]

        let saved = CgroupSettingsReader.read([root, child, stranger], namespaces: [], mounts: mounts)
        XCTAssertEqual(saved.map(\.path), ["/box", "/box/app", "/box/app/worker"], "the tree's, between included, parents first; not one outside the root")
        XCTAssertEqual(saved[0].settings, [CgroupSetting(name: "cgroup.subtree_control", value: "memory pids"), CgroupSetting(name: "memory.max", value: "max"),
                                           CgroupSetting(name: "pids.max", value: "20"), CgroupSetting(name: "hugetlb.2MB.max", value: "max")],
                       "settings in the order they are written; no counter, no empty value")
        XCTAssertEqual(saved[1].settings, [CgroupSetting(name: "memory.max", value: "8388608")])
        XCTAssertEqual(saved[2].settings, [CgroupSetting(name: "memory.high", value: "1048576")])

        // Rooted at the hierarchy's root: the root itself has nothing to save.
        root.cgroups = [CgroupMembership(controllers: "", path: "/")]
        XCTAssertEqual(CgroupSettingsReader.read([root, stranger], namespaces: [], mounts: mounts).map(\.path), ["/other"])
    }

    func testHugePageLimitsAreNamedByPageSizeAndHierarchy() {
        XCTAssertTrue(CgroupSettingNames.isKnown("hugetlb.2MB.max", controllers: ""))
        XCTAssertTrue(CgroupSettingNames.isKnown("hugetlb.1GB.limit_in_bytes", controllers: "hugetlb"))
        XCTAssertTrue(CgroupSettingNames.isKnown("cpu.shares", controllers: "cpu,cpuacct"))
        for (name, controllers) in [("hugetlb.2MB.limit_in_bytes", ""), ("hugetlb.2MB.max", "hugetlb"), ("hugetlb.2MB.max", "memory"),
                                    ("hugetlb.MB.max", ""), ("hugetlb.2XB.max", ""), ("hugetlb.2MB.current", ""), ("cgroup.procs", ""),
                                    ("memory.max", "memory"), ("cpu.shares", ""), ("../pids.max", ""), ("pids.max/..", "pids")] {
            XCTAssertFalse(CgroupSettingNames.isKnown(name, controllers: controllers), "\(name) in \(controllers)")
        }
    }

    func testAHostileListIsRefusedByField() {
        func refusal(_ cgroups: [CgroupImage]) -> String {
            do {
                try CgroupImageCheck.check(cgroups)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        let good = CgroupImage(controllers: "memory", path: "/box", settings: [CgroupSetting(name: "memory.limit_in_bytes", value: "1048576")])
        XCTAssertEqual(refusal([good, CgroupImage(controllers: "", path: "/box", settings: [])]), "accepted")
        let edits: [(String, (inout CgroupImage) -> Void)] = [
            ("[0].path", { $0.path = "/box/../../etc" }), ("[0].path", { $0.path = "/" }),
            ("[0].controllers", { $0.controllers = "memory,../x" }),
            ("[0].settings[0].name", { $0.settings[0].name = "cgroup.procs" }), ("[0].settings[0].name", { $0.settings[0].name = "pids.max" }),
            ("[0].settings[0].value", { $0.settings[0].value = "1\n2" }), ("[0].settings[0].value", { $0.settings[0].value = "" }),
        ]
        let cases = edits.map { field, edit in
            var c = good
            edit(&c)
            return (c, field)
        }
        for (cgroup, field) in cases {
            let text = refusal([cgroup])
            XCTAssertTrue(text.contains("cgroups.json") && text.contains(field), "\(field): \(text)")
        }
        XCTAssertTrue(refusal([good, good]).contains("listed twice"))
    }
}
