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
/// A tmux server in such a sandbox gives its panes ptys of the sandbox's
/// own devpts; they come back in the new one, and the shells in them
/// carry on.
final class BubblewrapScenarioTests: EndToEndCase {
    static let bwrap = "/usr/bin/bwrap"

    func testASandboxWithATmpfsRootComesBack() throws {
        try assertSandboxWithATmpfsRootComesBack(userNamespace: false)
    }

    /// The same sandbox in a user namespace of its own (--unshare-user),
    /// which owns its other namespaces: its mounts are made in crtool's
    /// user namespace and copied inside, and its namespaces belong to the
    /// new user namespace.
    func testASandboxWithATmpfsRootInAUserNamespaceComesBack() throws {
        try assertSandboxWithATmpfsRootComesBack(userNamespace: true)
    }

    private func assertSandboxWithATmpfsRootComesBack(userNamespace: Bool) throws {
        try requirePrograms(Self.bwrap, from: "Debian's bubblewrap")
        let python = try BuildProducts.requirePython3()
        let fixture = BuildProducts.packageRoot + "/fixtures/namespaces/tmpfsfiles.py"
        let sandbox = try startProgram("bwrap", Self.bwrap, [
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", scratch.path, scratch.path,
            "--ro-bind", fixture, "/app/tmpfsfiles.py",
            "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--unshare-net", "--unshare-cgroup", "--hostname", "crtool-bwrap",
        ] + (userNamespace ? ["--unshare-user"] : []) + [python, "/app/tmpfsfiles.py", "/tmp"], isReady: { $0.hasPrefix("tick") })
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
        let user = try NamespaceKind.user.id(pid: program)
        XCTAssertEqual(user != (try NamespaceKind.user.ownID()), userNamespace)
        if userNamespace {
            for kind in [NamespaceKind.pid, .mnt, .uts, .ipc, .net, .cgroup] {
                XCTAssertEqual(try NamespaceKind.ownerID(path: kind.path(pid: program), pid: program), user, "\(kind) belongs to its user namespace")
            }
        }
    }

    func testATmuxServerInASandboxKeepsItsPanes() throws {
        try requirePrograms(Self.bwrap, "/usr/bin/tmux", from: "Debian's bubblewrap and tmux")
        let shared = try scratch.newDirectory("shared")
        let socket = shared + "/tmux.sock"
        let counter = shared + "/counter"
        let sandbox = try startProgram("bwrap", Self.bwrap, [
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", scratch.path, scratch.path,
            "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--hostname", "crtool-tmux",
            // -D: the server stays bwrap's child instead of leaving as a daemon.
            "/usr/bin/tmux", "-S", socket, "-f", "/dev/null", "-D",
        ], isReady: nil)
        defer { try? stopTree(sandbox.pid) }
        XCTAssertTrue(poll(timeout: 15) { fileExists(socket) }, "the server listens")
        try tmux(socket, ["new-session", "-d", "-s", "work", "-x", "80", "-y", "24", "env PS1='$ ' bash --norc --noprofile -i"])
        try tmux(socket, ["send-keys", "-t", "work", "echo before-the-dump; while :; do echo $((++i)) >> \(counter); sleep 0.05; done &", "Enter"])
        XCTAssertTrue(poll(timeout: 15) { self.counted(counter).count >= 10 }, "the job counts")
        // The pane's shell, the oldest bash: tmux names it by its pid inside.
        let shell = try XCTUnwrap(ProcessTable.descendants(of: sandbox.pid).sorted().first { readTextFile("/proc/\($0)/comm") == "bash\n" })
        XCTAssertEqual(try ProcFile.link("/proc/\(shell)/fd/0"), "/dev/pts/0")
        XCTAssertEqual(try fileSystemDevice(of: "/proc/\(shell)/fd/0"), try fileSystemDevice(of: "/proc/\(shell)/root/dev/pts"), "the pane's pty is of the sandbox's devpts")
        XCTAssertNotEqual(try fileSystemDevice(of: "/proc/\(shell)/root/dev/pts"), try fileSystemDevice(of: "/dev/pts"))

        let image = try checkpoint(sandbox)
        let before = counted(counter).count
        try restore(image, as: sandbox)
        XCTAssertTrue(poll(timeout: 15) { self.counted(counter).count >= before + 20 }, "the job counts on")
        XCTAssertNil(LogLines.breakInSequence(counted(counter), startingAt: 1), "every number once, in order")
        XCTAssertEqual(try fileSystemDevice(of: "/proc/\(shell)/fd/0"), try fileSystemDevice(of: "/proc/\(shell)/root/dev/pts"), "in the new devpts of the sandbox")
        let typed = shared + "/typed"
        try tmux(socket, ["send-keys", "-t", "work", "echo typed-after > \(typed)", "Enter"])
        XCTAssertTrue(poll(timeout: 15) { readTextFile(typed) == "typed-after\n" }, "keys sent to the pane reach its shell")
        let pane = try tmux(socket, ["capture-pane", "-p", "-t", "work"])
        XCTAssertTrue(pane.contains("before-the-dump"), "the pane keeps what it showed: \(pane)")
    }
}
