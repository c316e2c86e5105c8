import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A sandbox Debian's bubblewrap made: its root a part (/newroot) of a
/// tmpfs of its own, entered with pivot_root, holding the links and
/// directories bwrap made; /usr and the program bound read-only, a proc
/// with parts bound read-only, a tmpfs /dev with the host's device nodes
/// bound on files of it and a devpts of its own, a tmpfs /tmp; PID, UTS,
/// IPC, network and cgroup namespaces of its own. The program keeps its
/// log and a page it maps shared in /tmp. bwrap, the PID namespace's
/// first process (bwrap again) and the program are dumped together,
/// killed and restored; the program carries on in the same mounts.
final class BubblewrapScenarioTests: EndToEndCase {
    static let bwrap = "/usr/bin/bwrap"

    func testASandboxWithATmpfsRootComesBack() throws {
        try requirePrograms(Self.bwrap, from: "Debian's bubblewrap")
        let python = try BuildProducts.requirePython3()
        let fixture = BuildProducts.packageRoot + "/fixtures/namespaces/tmpfsfiles.py"
        let sandbox = try startProgram("bwrap", Self.bwrap, [
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", scratch.path, scratch.path,
            "--ro-bind", fixture, "/app/tmpfsfiles.py",
            "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--unshare-net", "--unshare-cgroup", "--hostname", "crtool-bwrap",
            python, "/app/tmpfsfiles.py", "/tmp",
        ], isReady: { $0.hasPrefix("tick") })
        defer { try? stopTree(sandbox.pid) }
        guard let program = ProcessTable.descendants(of: sandbox.pid).first(where: { (readTextFile("/proc/\($0)/cmdline") ?? "").contains("tmpfsfiles") }) else {
            throw HarnessError("bwrap started no program")
        }
        try sandbox.waitFor("tick", atLeast: 2)
        let mounts = try mountView(of: program)
        XCTAssertEqual(mounts.first?.hasPrefix("/ tmpfs tmpfs /newroot "), true, "bwrap's root is a part of a tmpfs: \(mounts)")
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: program), try NamespaceKind.mnt.ownID())

        let image = try checkpoint(sandbox)
        try restoreAndWatch(image, as: sandbox)
        XCTAssertEqual(try mountView(of: program), mounts)
        XCTAssertEqual(try UTSNames.of(pid: program).hostname, "crtool-bwrap")
        XCTAssertEqual(try ProcFile.link("/proc/\(program)/root/bin"), "usr/bin", "the root holds what bwrap made in it")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("crtool-root-") }, [],
                       "the directory the root was put together on is gone")
    }
}
