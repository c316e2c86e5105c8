import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A program in a container as runtimes make one, with every namespace
/// crtool saves of its own: PID (it is pid 1 there), mount (pivot_root
/// into a root of its own, ContainerRoot), UTS (a hostname of its own),
/// IPC and network (its loopback up). Dumped from unshare, which is in
/// all but the PID namespace too, it comes back in all of them, in the
/// same root, writing on in its tmpfs without a gap.
final class ContainerTests: EndToEndCase {
    func testAProgramInAContainerComesBackInIt() throws {
        let container = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let setup = (["hostname crtool-box", "ip link set lo up"] + container.entering + ["exec python3 \(container.fixture) /tmp"])
            .joined(separator: " && ")
        let unshareArguments = ["--mount", "--pid", "--fork", "--uts", "--ipc", "--net", "--propagation", "private", "/bin/sh", "-c", setup]
        // Standing outside the new root, unshare keeps a working directory
        // no path of the namespace leads to: refused by name.
        let outside = try startProgram("outside", "/usr/bin/unshare", unshareArguments, isReady: { $0.hasPrefix("tick") })
        defer { try? stopTree(outside.pid) }
        try assertDumpRefused(outside, mentioning: ["pid \(outside.pid) stands in \(FileManager.default.currentDirectoryPath)",
                                                    "that path does not lead to its working directory"], namingAnFd: false)
        try stopTree(outside.pid)
        // Standing in crtool's root, which pivot_root moves to the new one.
        let unshare = try startProgram("container", "/bin/sh", ["-c", "cd / && exec \"$0\" \"$@\"", "/usr/bin/unshare"] + unshareArguments,
                                       isReady: { $0.hasPrefix("tick") })
        defer { try? stopTree(unshare.pid) }
        let program = try firstProcess(under: unshare, named: "container")
        try program.waitFor("tick", atLeast: 2)
        let kinds: [NamespaceKind] = [.pid, .mnt, .uts, .ipc, .net]
        for kind in kinds { XCTAssertNotEqual(try kind.id(pid: program.pid), try kind.ownID(), "\(kind) before the dump") }

        let image = try checkpoint(unshare)
        let mark = program.lineCount
        try restore(image, as: unshare)
        XCTAssertEqual(ProcessTable.children(of: unshare.pid), [program.pid])
        try program.waitForMore("tick", 5, after: mark)
        assertSequence(program, "tick")
        assertNoFailures(program)
        for kind in kinds { XCTAssertNotEqual(try kind.id(pid: program.pid), try kind.ownID(), "\(kind) after the restore") }
        XCTAssertEqual(try ProcStatus.read(pid: program.pid).namespaceIDs.last, 1, "pid 1 in its namespace")
        let inside = "/proc/\(program.pid)/root"
        XCTAssertEqual(try UTSNames.of(pid: program.pid).hostname, "crtool-box")
        XCTAssertEqual(try NamespaceKind.id(link: ProcFile.link(inside + "/proc/1/ns/pid", pid: program.pid), path: "pid"),
                       try NamespaceKind.pid.id(pid: program.pid), "the container's proc shows its PID namespace")
        var there = stat(), here = stat()
        XCTAssertEqual(stat(inside + container.fixture, &there), 0)
        XCTAssertEqual(stat(container.path + container.fixture, &here), 0)
        XCTAssertEqual([there.st_dev, there.st_ino], [here.st_dev, here.st_ino], "the restored process's root is not the container's")
    }
}
