import Foundation
import Glibc
import Ptrace
import XCTest

/// The dump saves the settings of the tree's cgroups (limits, CPU and
/// memory node lists, the unified hierarchy's own limits); the restore
/// makes the cgroups that are missing here with them, and writes them
/// onto those that exist as --manage-cgroups says.
final class CgroupSettingsTests: EndToEndCase {
    /// The parent ticks in the cgroups it was started in; the child it
    /// forks moves into the cgroups named on its command line and ticks
    /// too, each line one write, so that the two never interleave.
    static let program = """
    import os, sys, time
    if os.fork() == 0:
        for sub in sys.argv[1:]:
            with open(sub + "/cgroup.procs", "w") as f:
                f.write("0")
        role = "child"
    else:
        role = "parent"
    n = 0
    while True:
        os.write(1, f"{role} {n}\\n".encode())
        n += 1
        time.sleep(0.05)
    """

    func testMissingCgroupsAreMadeAgainWithTheSettingsTheyHad() throws {
        let tops = try [makeTop("unified", "-set") { $0.controllers.isEmpty },
                        makeTop("memory", "-set") { $0.controllers.split(separator: ",").contains("memory") },
                        makeTop("pids", "-set") { $0.controllers.split(separator: ",").contains("pids") },
                        makeTop("cpuset", "-set") { $0.controllers.split(separator: ",").contains("cpuset") }]
        let mounts = try MountTable.read(pid: getpid())
        let subs = try tops.map { try XCTUnwrap(makeCgroup(below: $0.membership, label: "-sub", mounts: mounts)) }
        // What each cgroup is given, the child's below its parent's.
        let given: [(TestCgroup, String, String)] = [
            (tops[0], "cgroup.max.descendants", "3"), (subs[0], "cgroup.max.depth", "2"),
            (tops[1], "memory.limit_in_bytes", "\(256 << 20)"), (subs[1], "memory.limit_in_bytes", "\(128 << 20)"),
            (subs[1], "memory.swappiness", "17"),
            (tops[2], "pids.max", "50"), (subs[2], "pids.max", "20"),
            (subs[3], "cpuset.cpus", "0"), (subs[3], "cpuset.mems", "0"),
        ]
        for (cgroup, name, value) in given { try set(cgroup.directory, name, value) }
        let wrapper = tops.map { "echo $$ > '\($0.directory)/cgroup.procs'" }.joined(separator: " && ")
        let tree = try startProgram("cgroupsettings", "/bin/sh", ["-c", wrapper + " && exec \"$0\" \"$@\"", try BuildProducts.requirePython3(),
                                                                   "-c", Self.program] + subs.map(\.directory),
                                    isReady: { $0.hasPrefix("child") })
        defer { try? stopTree(tree.pid) }
        let child = try XCTUnwrap(ProcessTable.children(of: tree.pid).first)
        try tree.waitFor("parent", atLeast: 1)
        let parentCgroups = try CgroupMembership.read(pid: tree.pid)
        let childCgroups = try CgroupMembership.read(pid: child)
        XCTAssertTrue(subs.allSatisfy { childCgroups.contains($0.membership) }, "the child moved: \(childCgroups)")

        let image = try checkpoint(tree)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("cgroup memory:\(subs[1].membership.path) of the tree's: memory.limit_in_bytes=\(128 << 20)"), "\(show)")
        XCTAssertTrue(show.stdout.contains("cgroup pids:\(tops[2].membership.path) of the tree's: pids.max=50"), "\(show)")
        for top in tops { removeCgroup(top.directory) }
        XCTAssertFalse(tops.contains { FileManager.default.fileExists(atPath: $0.directory) })

        // The check would make them: it warns of none, and makes none.
        let check = try crtool(["restore", "-D", image, "--check-only"])
        XCTAssertTrue(check.succeeded && !check.stderr.contains("does not exist here"), "\(check)")
        XCTAssertFalse(tops.contains { FileManager.default.fileExists(atPath: $0.directory) }, "the check made a cgroup")

        try restoreAndWatch(image, as: tree, counting: "parent")
        for (cgroup, name, value) in given {
            XCTAssertEqual(try read(cgroup.directory, name), value, "\(name) of \(cgroup.directory)")
        }
        XCTAssertEqual(try CgroupMembership.read(pid: tree.pid), parentCgroups)
        XCTAssertEqual(try CgroupMembership.read(pid: child), childCgroups)
        try tree.waitForMore("child", 3, after: tree.lineCount)
    }

    /// soft leaves a cgroup that exists as it is; props and full write the
    /// saved settings onto it; strict refuses it; none leaves a missing
    /// cgroup missing (the process stays in crtool's, with a warning);
    /// ignore leaves every process in crtool's; --manage-cgroups alone is
    /// soft.
    func testEachModeMakesAndWritesWhatItSays() throws {
        let pids = try makeTop("pids", "-modes") { $0.controllers.split(separator: ",").contains("pids") }
        let unified = try makeTop("unified", "-modes") { $0.controllers.isEmpty }
        let memory = try makeTop("memory", "-modes") { $0.controllers.split(separator: ",").contains("memory") }
        try set(pids.directory, "pids.max", "50")
        try set(unified.directory, "cgroup.max.descendants", "4")
        for name in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] { try set(memory.directory, name, "\(64 << 20)") }
        let counter = try startFixture("counter", ["--heap-mib", "4"], under: ["/bin/sh", "-c",
            [pids, unified, memory].map { "echo $$ > '\($0.directory)/cgroup.procs'" }.joined(separator: " && ") + " && exec \"$0\" \"$@\""])
        let image = try checkpoint(counter)
        let own = try CgroupMembership.read(pid: getpid())
        func restoreOnce(_ options: [String]) throws {
            try restore(image, as: counter, options: options)
            try killAndReap(counter.pid)
        }
        func restoredCgroups(_ options: [String]) throws -> (CommandResult, [CgroupMembership]) {
            try waitUntilFree(counter.pid)
            let result = try crtool(["restore", "-D", image, "-d"] + options)
            guard result.succeeded else { throw HarnessError("restore \(options) failed: \(result)") }
            let cgroups = try CgroupMembership.read(pid: counter.pid)
            try killAndReap(counter.pid)
            return (result, cgroups)
        }

        try set(pids.directory, "pids.max", "60")
        try assertRestoreRefused(image, pid: counter.pid, mentioning: [
            "pids cgroup \(pids.membership.path) exists here, and --manage-cgroups strict makes every cgroup of the tree's anew",
            "nothing was restored",
        ], options: ["--manage-cgroups", "strict"])
        try restoreOnce([])
        XCTAssertEqual(try read(pids.directory, "pids.max"), "60", "soft leaves a cgroup that exists as it is")
        try restoreOnce(["--manage-cgroups", "props"])
        XCTAssertEqual(try read(pids.directory, "pids.max"), "50", "props writes the saved settings")
        try set(pids.directory, "pids.max", "60")
        try set(unified.directory, "cgroup.max.descendants", "7")
        // Lowered: the memory limit may not pass the memory and swap
        // limit, so it is written again after that one.
        for name in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] { try set(memory.directory, name, "\(32 << 20)") }
        try restoreOnce(["--manage-cgroups", "full"])
        XCTAssertEqual(try read(pids.directory, "pids.max"), "50", "full writes the saved settings")
        XCTAssertEqual(try read(unified.directory, "cgroup.max.descendants"), "4")
        for name in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] { XCTAssertEqual(try read(memory.directory, name), "\(64 << 20)", name) }

        for made in [pids, unified, memory] { XCTAssertEqual(rmdir(made.directory), 0, errnoText()) }
        let (none, inNone) = try restoredCgroups(["--manage-cgroups", "none"])
        XCTAssertTrue(none.stderr.contains("warning: pid \(counter.pid) was in pids cgroup \(pids.membership.path), which does not exist here; it stays in crtool's"), "\(none)")
        XCTAssertEqual(inNone, own, "none leaves the process in crtool's cgroups")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pids.directory), "none made a cgroup")
        let (ignore, inIgnore) = try restoredCgroups(["--manage-cgroups", "ignore"])
        XCTAssertFalse(ignore.stderr.contains("warning"), "\(ignore)")
        XCTAssertEqual(inIgnore, own, "ignore leaves the process in crtool's cgroups")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pids.directory), "ignore made a cgroup")

        // Alone, before another option: soft, which makes them.
        let (_, inSoft) = try restoredCgroups(["--manage-cgroups", "--pidfile", scratch.newPath("pid")])
        XCTAssertTrue(inSoft.contains(pids.membership) && inSoft.contains(unified.membership), "\(inSoft)")
        XCTAssertEqual(try read(pids.directory, "pids.max"), "50")
        XCTAssertEqual(try read(unified.directory, "cgroup.max.descendants"), "4")
        let bad = try crtool(["restore", "-D", image, "-d", "--manage-cgroups", "most"])
        XCTAssertTrue(!bad.succeeded && bad.stderr.contains("--manage-cgroups takes soft, full, strict, props, none, ignore, not most"), "\(bad)")

        // A dump with ignore saves no settings; one with the flag alone does.
        try restore(image, as: counter)
        let withSettings = try checkpoint(counter, options: ["--leave-running", "--manage-cgroups"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: withSettings + "/cgroups.json"))
        let without = try checkpoint(counter, options: ["--manage-cgroups", "ignore"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: without + "/cgroups.json"), "ignore saved the cgroups' settings")
    }

    /// A setting this host refuses (here an image edited to a value no
    /// kernel takes) fails the restore before any process exists, and the
    /// cgroups it had made are removed again.
    func testASettingRefusedHereFailsTheRestoreAndLeavesNoCgroup() throws {
        let pids = try makeTop("pids", "-refused") { $0.controllers.split(separator: ",").contains("pids") }
        let mounts = try MountTable.read(pid: getpid())
        let sub = try XCTUnwrap(makeCgroup(below: pids.membership, label: "-sub", mounts: mounts))
        try set(pids.directory, "pids.max", "50")
        try set(sub.directory, "pids.max", "20")
        let counter = try startFixture("counter", ["--heap-mib", "4"], under: ["/bin/sh", "-c", "echo $$ > '\(sub.directory)/cgroup.procs' && exec \"$0\" \"$@\""])
        let checksum = try heapChecksum(counter)
        let image = try checkpoint(counter)
        removeCgroup(pids.directory)
        let edited = try editedCopy(of: image, file: "cgroups.json", replacing: "\"value\" : \"20\"", with: "\"value\" : \"twenty\"")
        let refused = try crtool(["restore", "-D", edited, "-d"])
        XCTAssertEqual(refused.status, .exited(1), "\(refused)")
        XCTAssertTrue(refused.stderr.contains("cannot set pids.max of pids cgroup \(sub.membership.path) to twenty"), "\(refused)")
        XCTAssertFalse(ProcessTable.isAlive(counter.pid), "\(refused)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pids.directory), "the cgroups the failed restore made are left")
        let mark = counter.lineCount
        try restore(image, as: counter)
        XCTAssertEqual(try read(sub.directory, "pids.max"), "20")
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    /// A unified cgroup made below one whose cgroup.subtree_control does
    /// not enable a controller its settings need (a new slice, say) gets
    /// that controller enabled on the way down, from the hierarchy's root
    /// here; a restore that fails disables it again.
    func testControllersTheSettingsNeedAreEnabledAboveAMadeCgroup() throws {
        let mounts = try MountTable.read(pid: getpid())
        let root = try XCTUnwrap(CgroupMembership(controllers: "", path: "/").directory(in: mounts), "no unified hierarchy mounted")
        XCTAssertTrue(try read(root, "cgroup.controllers").split(separator: " ").contains("hugetlb"),
                      "this test needs the hugetlb controller in the unified hierarchy")
        let rootHadIt = try read(root, "cgroup.subtree_control").split(separator: " ").contains("hugetlb")
        // Runs after the cgroups below are gone (teardown blocks run last first).
        addTeardownBlock { if !rootHadIt { try? LocalFile.writeControl("-hugetlb", to: root + "/cgroup.subtree_control") } }
        let slice = try makeCgroup(label: "-slice") { $0.controllers.isEmpty && $0.path == "/" }
        try set(root, "cgroup.subtree_control", "+hugetlb")
        try set(slice.directory, "cgroup.subtree_control", "+hugetlb")
        let job = try XCTUnwrap(makeCgroup(below: slice.membership, label: "-job", mounts: mounts))
        try set(job.directory, "hugetlb.2MB.max", "\(4 << 20)")
        let tree = try startProgram("cgroupoffer", "/bin/sh", ["-c", "echo $$ > '\(job.directory)/cgroup.procs' && exec \"$0\" \"$@\"",
                                                                try BuildProducts.requirePython3(), "-c", Self.program], isReady: { $0.hasPrefix("parent") })
        defer { try? stopTree(tree.pid) }
        let image = try checkpoint(tree)

        removeCgroup(job.directory)
        try set(slice.directory, "cgroup.subtree_control", "-hugetlb")
        if !rootHadIt { try set(root, "cgroup.subtree_control", "-hugetlb") }
        let failed = try crtool(["restore", "-D", image, "-d", "--action-script", "test \"$CRTOOLS_SCRIPT_ACTION\" != post-restore"])
        XCTAssertFalse(failed.succeeded, "\(failed)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.directory), "the failed restore left the cgroup it made")
        XCTAssertEqual(try read(slice.directory, "cgroup.subtree_control"), "", "the failed restore left hugetlb enabled")
        XCTAssertEqual(try read(root, "cgroup.subtree_control").split(separator: " ").contains("hugetlb"), rootHadIt)

        let mark = tree.lineCount
        try restore(image, as: tree)
        XCTAssertEqual(try read(slice.directory, "cgroup.subtree_control"), "hugetlb")
        XCTAssertEqual(try read(job.directory, "hugetlb.2MB.max"), "\(4 << 20)")
        XCTAssertTrue(try CgroupMembership.read(pid: tree.pid).contains(job.membership))
        try tree.waitForMore("parent", 5, after: mark)
        assertNoFailures(tree)
    }

    // MARK: -

    /// A cgroup below this process's own in the first hierarchy `matching`
    /// accepts; in a cpuset hierarchy, given CPU 0 and memory node 0, which
    /// a cpuset cgroup needs before a process can join it.
    private func makeTop(_ name: String, _ label: String, where matching: (CgroupMembership) -> Bool) throws -> TestCgroup {
        let made = try makeCgroup(label: label, where: matching)
        if name == "cpuset" {
            try set(made.directory, "cpuset.cpus", "0")
            try set(made.directory, "cpuset.mems", "0")
        }
        return made
    }

    private func set(_ directory: String, _ name: String, _ value: String) throws {
        try LocalFile.writeControl(value, to: directory + "/" + name)
    }

    private func read(_ directory: String, _ name: String) throws -> String {
        try XCTUnwrap(readTextFile(directory + "/" + name), "\(directory)/\(name)").trimmingCharacters(in: .newlines)
    }
}
