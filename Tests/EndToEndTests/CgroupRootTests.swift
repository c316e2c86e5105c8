import Foundation
import Glibc
import Ptrace
import XCTest

/// `restore --cgroup-root`: a tree comes back under another cgroup than the
/// one it was dumped in (a container under a new name, a job in another
/// slice), its cgroups below that one made again below the new one, and
/// its memory charged there.
final class CgroupRootTests: EndToEndCase {
    /// The parent keeps a 32 MiB heap it checks every tick; the child it
    /// forks moves into the cgroup given and ticks too.
    static let program = """
    import os, sys, time, zlib
    sub = sys.argv[1]
    if os.fork() == 0:
        with open(sub + "/cgroup.procs", "w") as f:
            f.write("0")
        role, heap = "child", b""
    else:
        role, heap = "parent", bytearray(os.urandom(1 << 20)) * 32
    crc = zlib.crc32(heap)
    n = 0
    while True:
        if zlib.crc32(heap) != crc:
            print(f"FAIL: {role} heap changed", flush=True)
            sys.exit(1)
        os.write(1, f"{role} {n}\\n".encode())
        n += 1
        time.sleep(0.05)
    """

    func testATreeComesBackUnderTheCgroupsGiven() throws {
        let mounts = try MountTable.read(pid: getpid())
        let from = try makeCgroup(label: "-from") { $0.controllers.isEmpty }
        let sub = try XCTUnwrap(makeCgroup(below: from.membership, label: "-sub", mounts: mounts))
        let to = try makeCgroup(label: "-to") { $0.controllers.isEmpty }
        let memoryFrom = try makeCgroup(label: "-from") { $0.controllers.split(separator: ",").contains("memory") }
        let memoryTo = try makeCgroup(label: "-to") { $0.controllers.split(separator: ",").contains("memory") }
        let usage = memoryTo.directory + "/memory.usage_in_bytes"
        let wrapper = ["/bin/sh", "-c", "echo $$ > '\(from.directory)/cgroup.procs' && echo $$ > '\(memoryFrom.directory)/cgroup.procs' && exec \"$0\" \"$@\""]
        let tree = try startProgram("cgrouproot", "/bin/sh", Array(wrapper.dropFirst()) + [try BuildProducts.requirePython3(), "-c", Self.program, sub.directory],
                                    isReady: { $0.hasPrefix("child") })
        defer { try? stopTree(tree.pid) }
        let child = try XCTUnwrap(ProcessTable.children(of: tree.pid).first)
        try tree.waitFor("parent", atLeast: 1)
        XCTAssertEqual(try unified(tree.pid), from.membership)
        XCTAssertEqual(try unified(child), sub.membership)

        let image = try checkpoint(tree)
        let subName = String(sub.membership.path.split(separator: "/").last!)
        let movedSub = CgroupMembership(controllers: "", path: to.membership.path + "/" + subName)
        let giving = ["--cgroup-root", "unified:\(to.membership.path)", "--cgroup-root", "memory:\(memoryTo.membership.path)"]
        try assertRestoreRefused(image, pid: tree.pid, mentioning: [
            "unified cgroup \(to.membership.path)/none, given with --cgroup-root, does not exist here", "nothing was restored",
        ], options: ["--cgroup-root", "unified:\(to.membership.path)/none"])
        try assertRestoreRefused(image, pid: tree.pid, mentioning: [
            "--cgroup-root nosuch:/x: the tree's root was in no hierarchy with the controller nosuch", "nothing was restored",
        ], options: ["--cgroup-root", "nosuch:/x"])
        let bad = try crtool(["restore", "-D", image, "-d", "--cgroup-root", "memory:x"])
        XCTAssertTrue(bad.stderr.contains("--cgroup-root takes [CONTROLLER:]PATH"), "\(bad)")

        // A restore that fails once the tree is made leaves no cgroup it made.
        let failed = try crtool(["restore", "-D", image, "-d", "--action-script", "test \"$CRTOOLS_SCRIPT_ACTION\" != post-restore"] + giving)
        XCTAssertEqual(failed.status, .exited(1), "\(failed)")
        XCTAssertFalse(ProcessTable.isAlive(tree.pid), "\(failed)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: to.directory + "/" + subName), "the cgroup made for the child was removed")

        // Where the tree was is gone: not needed.
        XCTAssertEqual(rmdir(sub.directory), 0, errnoText())
        let check = try crtool(["restore", "-D", image, "--check-only"] + giving)
        XCTAssertTrue(check.succeeded && !check.stderr.contains("does not exist here"), "\(check)")
        let mark = tree.lineCount
        try restore(image, as: tree, options: giving)
        try tree.waitForMore("parent", 5, after: mark)
        try tree.waitForMore("child", 5, after: mark)
        XCTAssertEqual(try unified(tree.pid), to.membership)
        XCTAssertEqual(try unified(child), movedSub, "the child's cgroup was made again below the one given")
        for pid in [tree.pid, child] {
            XCTAssertEqual(try CgroupMembership.read(pid: pid).first { $0.controllers.split(separator: ",").contains("memory") }, memoryTo.membership)
        }
        XCTAssertGreaterThanOrEqual(try chargedBytes(usage), 32 << 20, "the restored heap is charged to the memory cgroup given")
        assertNoFailures(tree)
    }

    private func unified(_ pid: pid_t) throws -> CgroupMembership? {
        try CgroupMembership.read(pid: pid).first { $0.controllers.isEmpty }
    }
}
