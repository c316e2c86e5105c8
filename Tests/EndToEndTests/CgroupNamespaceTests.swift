import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A process in a cgroup namespace of its own (`unshare --cgroup`, a
/// container's) sees the cgroup it made the namespace in as "/" and its
/// own cgroups below it. The restore makes the namespace in that cgroup
/// again, so the process sees the same paths; a restore where that cgroup
/// is gone is refused before anything is made.
final class CgroupNamespaceTests: EndToEndCase {
    /// Joins ROOT, makes a cgroup namespace there (util-linux's unshare
    /// would need a shell to join it first), moves into SUB, and reports
    /// what it sees every 50 ms; a change is a FAIL.
    static let program = """
    import ctypes, sys, time
    root, sub = sys.argv[1], sys.argv[2]
    def join(directory):
        with open(directory + "/cgroup.procs", "w") as f:
            f.write("0")
    join(root)
    if ctypes.CDLL(None, use_errno=True).unshare(0x02000000) != 0:
        print("FAIL: unshare", ctypes.get_errno(), flush=True)
        sys.exit(1)
    join(sub)
    def seen():
        with open("/proc/self/cgroup") as f:
            return f.read()
    first = seen()
    print("ready", flush=True)
    n = 0
    while True:
        now = seen()
        if now != first:
            print(f"FAIL: /proc/self/cgroup was {first!r}, is {now!r}", flush=True)
            sys.exit(1)
        unified = [line[3:] for line in now.splitlines() if line.startswith("0::")]
        print(f"tick {n} sees {unified[0] if unified else '-'}", flush=True)
        n += 1
        time.sleep(0.05)
    """

    func testACgroupNamespaceComesBackRootedWhereItWas() throws {
        let mounts = try MountTable.read(pid: getpid())
        let root = try makeCgroup(label: "-nsroot") { $0.controllers.isEmpty }
        guard let sub = makeCgroup(below: root.membership, label: "-sub", mounts: mounts) else {
            throw HarnessError("cannot make a cgroup below \(root.directory)")
        }
        let python = try BuildProducts.requirePython3()
        let program = try startProgram("cgroupns", python, ["-c", Self.program, root.directory, sub.directory])
        defer { try? stopTree(program.pid) }
        let inside = String(sub.membership.path.dropFirst(root.membership.path.count))
        try program.waitFor("tick", atLeast: 1)
        XCTAssertEqual(program.log.lines().first { $0.hasPrefix("tick") }?.split(separator: " ").last.map(String.init), inside,
                       "the namespace shows the program its cgroup from the root it was made in")
        XCTAssertNotEqual(try NamespaceKind.cgroup.id(pid: program.pid), try NamespaceKind.cgroup.ownID())
        let show = try crtool(["show", try checkpoint(program, options: ["--leave-running"])])
        XCTAssertTrue(show.stdout.contains("cgroup namespace cgroup:["), "\(show)")
        XCTAssertTrue(show.stdout.contains("rooted at") && show.stdout.contains("unified:\(root.membership.path)"), "\(show)")

        let image = try checkpoint(program)
        // Gone: unless the restore makes it, the namespace cannot be made
        // where it was. By default it is made, with the cgroup below it.
        XCTAssertEqual(rmdir(sub.directory), 0, errnoText())
        XCTAssertEqual(rmdir(root.directory), 0, errnoText())
        try assertRestoreRefused(image, pid: program.pid, mentioning: [
            "was rooted at unified cgroup \(root.membership.path), which does not exist here", "nothing was restored",
        ], options: ["--manage-cgroups", "none"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.directory))

        let mark = try restoreAndWatch(image, as: program)
        XCTAssertTrue(program.log.lines().dropFirst(mark).allSatisfy { !$0.hasPrefix("tick") || $0.hasSuffix(" sees \(inside)") }, program.log.tail())
        XCTAssertNotEqual(try NamespaceKind.cgroup.id(pid: program.pid), try NamespaceKind.cgroup.ownID())
        XCTAssertTrue(try CgroupMembership.read(pid: program.pid).contains(sub.membership), "back in its own cgroup")
    }

    /// With --cgroup-root the namespace is rooted at the cgroup given (a
    /// container under its new name), and the process's cgroup below the
    /// old root is made below the new one: it sees the same paths.
    func testACgroupNamespaceComesBackRootedAtTheCgroupGiven() throws {
        let mounts = try MountTable.read(pid: getpid())
        let root = try makeCgroup(label: "-nsfrom") { $0.controllers.isEmpty }
        let sub = try XCTUnwrap(makeCgroup(below: root.membership, label: "-sub", mounts: mounts))
        let given = try makeCgroup(label: "-nsto") { $0.controllers.isEmpty }
        let program = try startProgram("cgroupns", try BuildProducts.requirePython3(), ["-c", Self.program, root.directory, sub.directory])
        defer { try? stopTree(program.pid) }
        let inside = String(sub.membership.path.dropFirst(root.membership.path.count))
        try program.waitFor("tick", atLeast: 1)
        let image = try checkpoint(program)
        XCTAssertEqual(rmdir(sub.directory), 0, errnoText())
        XCTAssertEqual(rmdir(root.directory), 0, errnoText())

        let mark = try restoreAndWatch(image, as: program, options: ["--cgroup-root", "unified:\(given.membership.path)"])
        XCTAssertTrue(program.log.lines().dropFirst(mark).allSatisfy { !$0.hasPrefix("tick") || $0.hasSuffix(" sees \(inside)") }, program.log.tail())
        XCTAssertTrue(try CgroupMembership.read(pid: program.pid).contains(CgroupMembership(controllers: "", path: given.membership.path + inside)),
                      "in the cgroup made below the one given")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.directory), "the old root is not made again")
        assertNoFailures(program)
    }

    /// A root that is no cgroup's path is refused by field.
    func testAHostileRootIsRefusedByField() throws {
        let root = try makeCgroup(label: "-nshostile") { $0.controllers.isEmpty }
        let python = try BuildProducts.requirePython3()
        let program = try startProgram("cgroupns", python, ["-c", Self.program, root.directory, root.directory])
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let hostile = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: "\"path\" : \"\(root.membership.path)\"",
                                     with: "\"path\" : \"\(root.membership.path)/../../..\"")
        try assertRestoreRefused(hostile, pid: program.pid, mentioning: ["namespaces.json", "cgroupRoots[", "is not a cgroup's path"])
    }
}
