import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A PID namespace made inside a user namespace (unshare --user --pid
/// --fork, the way rootless containers start) comes back inside a user
/// namespace with the same maps, its processes with their pids in both
/// PID namespaces, the new PID namespace owned by the new user namespace,
/// and its proc mounted again: its first process is born inside the user
/// namespace, and so are that process's children.
final class UserPidNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/userns.py"

    private func idsAndCapabilities(_ pid: pid_t) -> [String] {
        let fields = ["Uid:", "Gid:", "Groups:", "CapPrm:", "CapEff:", "CapBnd:"]
        return (readTextFile("/proc/\(pid)/status") ?? "").split(separator: "\n").map(String.init).filter { line in
            fields.contains { line.hasPrefix($0) }
        }
    }

    private func link(_ path: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: path)
    }

    /// The pids the proc mounted inside shows, seen through the
    /// process's root in its mount namespace.
    private func pidsInsideProc(of pid: pid_t) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/root/proc")) ?? []).compactMap { Int32($0) }.sorted()
    }

    /// unshare stays outside, in the user namespace, with its children
    /// born in the PID namespace; inside, bash runs the fixture (three
    /// threads) into cat, which writes the log: four processes, a pipe
    /// between two of them, and a proc of the namespace's own.
    func testAPidNamespaceMadeInsideAUserNamespaceComesBackInsideIt() throws {
        let unshare = try startProgram("userns-pid", "/usr/bin/unshare",
                                       ["--user", "--map-root-user", "--pid", "--fork", "--mount", "--mount-proc",
                                        "/bin/bash", "-c", "python3 \(script) mnt threads | cat"],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let shell = try firstProcess(under: unshare, named: "bash")
        let inside = ProcessTable.children(of: shell.pid)
        let python = try XCTUnwrap(inside.first { (readTextFile("/proc/\($0)/cmdline") ?? "").contains("userns.py") })
        let program = Fixture(name: "userns.py", pid: python, log: unshare.log, stderrPath: unshare.stderrPath)
        let pids = [unshare.pid, shell.pid] + inside.sorted()
        XCTAssertEqual(pids.count, 4)
        let namespacePids = ProcessTable.namespacePids(of: pids)
        XCTAssertEqual(namespacePids[python]?.count, 4, "the fixture and its three threads")
        XCTAssertEqual(namespacePids[shell.pid]?.first, [shell.pid, 1])
        let ids = pids.map(idsAndCapabilities)
        let maps = ["uid_map", "gid_map", "setgroups"].map { readTextFile("/proc/\(python)/\($0)") }
        let procInside = pidsInsideProc(of: shell.pid)
        XCTAssertEqual(procInside, namespacePids.values.compactMap { $0.first?.count == 2 ? $0.first![1] : nil }.sorted())
        try program.signal(SIGUSR1)
        XCTAssertEqual(try program.waitFor("powers") { $0.hasPrefix("powers") }.line, "powers host - mount ok link -")

        for round in 1...2 {
            let image = try checkpoint(unshare)
            let mark = unshare.lineCount
            try restore(image, as: unshare)
            try program.waitForMore("tick", 3, after: mark)
            XCTAssertEqual(ProcessTable.namespacePids(of: pids), namespacePids, "round \(round): every process and thread has its pids in both namespaces")
            XCTAssertEqual(ProcessTable.children(of: unshare.pid), [shell.pid], "round \(round): no helper is left behind")
            XCTAssertEqual(ProcessTable.children(of: shell.pid).sorted(), inside.sorted(), "round \(round)")
            XCTAssertEqual(pids.map(idsAndCapabilities), ids, "round \(round)")
            XCTAssertEqual(["uid_map", "gid_map", "setgroups"].map { readTextFile("/proc/\(python)/\($0)") }, maps, "round \(round)")

            let user = try NamespaceKind.user.id(pid: python)
            let pidNamespace = try NamespaceKind.pid.id(pid: python)
            XCTAssertNotEqual(user, try NamespaceKind.user.ownID())
            XCTAssertNotEqual(pidNamespace, try NamespaceKind.pid.ownID())
            for pid in pids {
                XCTAssertEqual(try NamespaceKind.user.id(pid: pid), user, "round \(round): pid \(pid)")
            }
            XCTAssertEqual(try NamespaceKind.pid.id(pid: unshare.pid), try NamespaceKind.pid.ownID(), "unshare stays in crtool's")
            XCTAssertEqual(link("/proc/\(unshare.pid)/ns/pid_for_children"), "pid:[\(pidNamespace)]", "round \(round): unshare's children go inside")
            XCTAssertEqual(try NamespaceKind.ownerID(path: NamespaceKind.pid.path(pid: python), pid: python), user,
                           "round \(round): the PID namespace belongs to the user namespace")
            XCTAssertEqual(pidsInsideProc(of: shell.pid), procInside, "round \(round): the proc inside shows the namespace's own pids")

            try program.signal(SIGUSR1)
            XCTAssertEqual(try program.waitFor("powers", from: mark) { $0.hasPrefix("powers") }.line, "powers host - mount ok link -",
                           "round \(round): root of its user namespace, it still mounts in its mount namespace")
            XCTAssertEqual(try program.waitFor("held", from: mark) { $0.hasPrefix("held") }.line, "held 0 0 1", "round \(round)")
            assertSequence(program, "tick")
            assertNoFailures(program)
        }
    }

    /// A bubblewrap sandbox, made as flatpak's are: a user, PID and mount
    /// namespace, its root crtool's bound read-only, a proc of its own
    /// with parts of crtool's bound on it, a /dev tmpfs with device nodes
    /// bound in, and a tmpfs. Its first process (bwrap, pid 1) made the
    /// mount namespace, inside the user namespace: at the restore a
    /// helper in crtool's user namespace, born in the sandbox's PID
    /// namespace, makes the mounts, and the sandbox gets the copy made
    /// inside the user namespace.
    func testABubblewrapSandboxComesBack() throws {
        let outside = try startProgram("bwrap", "/usr/bin/bwrap",
                                       ["--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                        "--tmpfs", "/var/tmp", "python3", script, "threads"],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(outside.pid) }
        let first = try firstProcess(under: outside, named: "bwrap")
        let python = try XCTUnwrap(ProcessTable.children(of: first.pid).first)
        let program = Fixture(name: "userns.py", pid: python, log: outside.log, stderrPath: outside.stderrPath)
        let pids = [outside.pid, first.pid, python]
        let namespacePids = ProcessTable.namespacePids(of: pids)
        XCTAssertEqual(namespacePids[python]?.first, [python, 2])
        XCTAssertEqual(pidsInsideProc(of: python), [1, 2])
        let mounts = Set(["/proc", "/dev", "/dev/null", "/var/tmp"])
        func mountPoints(_ pid: pid_t) -> [String] {
            (readTextFile("/proc/\(pid)/mountinfo") ?? "").split(separator: "\n").map { String($0.split(separator: " ")[4]) }.filter(mounts.contains)
        }
        let shown = mountPoints(python)

        let image = try checkpoint(outside)
        let mark = outside.lineCount
        try restore(image, as: outside)
        try program.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(ProcessTable.namespacePids(of: pids), namespacePids)
        XCTAssertEqual(ProcessTable.children(of: outside.pid), [first.pid], "no helper is left behind")
        XCTAssertEqual(ProcessTable.children(of: first.pid), [python])
        XCTAssertEqual(pidsInsideProc(of: python), [1, 2], "its proc shows its own PID namespace")
        XCTAssertEqual(mountPoints(python).sorted(), shown.sorted(), "the same mounts, each where it was")
        var device = stat()
        XCTAssertEqual(stat("/proc/\(python)/root/dev/null", &device), 0)
        XCTAssertEqual(device.st_mode & S_IFMT, S_IFCHR)
        XCTAssertEqual(DeviceNumber(UInt64(device.st_rdev)).description, "1:3")
        let user = try NamespaceKind.user.id(pid: python)
        XCTAssertNotEqual(user, try NamespaceKind.user.ownID())
        XCTAssertEqual(try NamespaceKind.ownerID(path: NamespaceKind.pid.path(pid: python), pid: python), user)
        XCTAssertEqual(try NamespaceKind.ownerID(path: NamespaceKind.mnt.path(pid: python), pid: python), user)
        try program.signal(SIGUSR1)
        XCTAssertEqual(try program.waitFor("held", from: mark) { $0.hasPrefix("held") }.line, "held 0 0 1")
        assertSequence(program, "tick")
        assertNoFailures(program)
    }

    /// The first process of such a namespace dumped alone, as a container's
    /// pid 1 is once its runtime has left: the root of the tree, its
    /// parent not in it. It is born inside from a stand-in for its parent,
    /// which is gone once the restore is done, and comes back with its
    /// threads, each with its ids in both namespaces.
    func testTheFirstProcessOfSuchANamespaceComesBackAsTheRoot() throws {
        let unshare = try startProgram("userns-root", "/usr/bin/unshare",
                                       ["--user", "--map-root-user", "--pid", "--fork", "python3", script, "threads"],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let first = try firstProcess(under: unshare, named: "python3")
        let program = Fixture(name: "userns.py", pid: first.pid, log: unshare.log, stderrPath: unshare.stderrPath)
        let namespacePids = ProcessTable.namespacePids(of: [first.pid])
        XCTAssertEqual(namespacePids[first.pid]?.count, 4, "the fixture and its three threads")
        XCTAssertEqual(namespacePids[first.pid]?.first, [first.pid, 1])
        let maps = ["uid_map", "gid_map", "setgroups"].map { readTextFile("/proc/\(first.pid)/\($0)") }
        let ids = idsAndCapabilities(first.pid)

        // Not a child of the harness: unshare reaps it.
        let image = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(first.pid)", "-D", image])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        try waitUntilFree(first.pid)
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(ProcessTable.namespacePids(of: [first.pid]), namespacePids, "every thread has its ids in both namespaces")
        XCTAssertEqual(ProcessTable.stat(first.pid)?.ppid, getpid(), "crtool's child, left to the harness: the stand-in is gone")
        XCTAssertEqual(ProcessTable.children(of: first.pid), [], "no helper is left behind")
        XCTAssertEqual(idsAndCapabilities(first.pid), ids)
        XCTAssertEqual(["uid_map", "gid_map", "setgroups"].map { readTextFile("/proc/\(first.pid)/\($0)") }, maps)
        let user = try NamespaceKind.user.id(pid: first.pid)
        XCTAssertNotEqual(user, try NamespaceKind.user.ownID())
        XCTAssertEqual(try NamespaceKind.ownerID(path: NamespaceKind.pid.path(pid: first.pid), pid: first.pid), user,
                       "the PID namespace belongs to the user namespace")
        try program.signal(SIGUSR1)
        XCTAssertEqual(try program.waitFor("held", from: mark) { $0.hasPrefix("held") }.line, "held 0 0 1")
        assertSequence(program, "tick")
        assertNoFailures(program)
    }

    /// A container made inside a user namespace (unshare --user --pid
    /// --fork --mount, then pivot_root into a root of its own, as rootless
    /// runtimes make one), dumped from unshare: its mounts are made in
    /// crtool's user namespace and copied inside; its proc, which a
    /// process inside could mount only while another was in full view,
    /// is made by a helper born in its PID namespace and put in place by
    /// its first process.
    func testAContainerRootMadeInsideAUserNamespaceComesBack() throws {
        let container = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let setup = (container.entering + ["exec python3 \(container.fixture) /tmp"]).joined(separator: " && ")
        let unshare = try startProgram("userns-container", "/bin/sh", ["-c", "cd / && exec \"$0\" \"$@\"", "/usr/bin/unshare",
                                       "--user", "--map-root-user", "--pid", "--fork", "--mount", "--propagation", "private", "/bin/sh", "-c", setup],
                                       isReady: { $0.hasPrefix("tick") })
        defer { try? stopTree(unshare.pid) }
        let program = try firstProcess(under: unshare, named: "python3")
        try unshare.waitFor("tick", atLeast: 2)
        let mounts = try mountView(of: program.pid)
        XCTAssertEqual(mounts.first?.hasPrefix("/ ext4 "), true, "its root is the directory bound there: \(mounts)")
        XCTAssertTrue(mounts.contains { $0.hasPrefix("/proc proc ") }, "\(mounts)")
        XCTAssertEqual(pidsInsideProc(of: program.pid), [1])

        let image = try checkpoint(unshare)
        try restoreAndWatch(image, as: unshare)
        XCTAssertEqual(try mountView(of: program.pid), mounts)
        XCTAssertEqual(pidsInsideProc(of: program.pid), [1], "its proc shows its own PID namespace")
        XCTAssertEqual(ProcessTable.children(of: unshare.pid), [program.pid], "no helper is left behind")
        let user = try NamespaceKind.user.id(pid: program.pid)
        XCTAssertNotEqual(user, try NamespaceKind.user.ownID())
        for kind in [NamespaceKind.pid, .mnt] {
            XCTAssertEqual(try NamespaceKind.ownerID(path: kind.path(pid: program.pid), pid: program.pid), user, "\(kind)")
        }
    }

    /// A process born inside holding more descriptors than crtool sends
    /// in one batch (`DescriptorCourier.inFlightLimit`, 128): 150 pipes, each
    /// holding its own number, which the program reads and writes back
    /// every tick. Every pipe comes back at its numbers with its byte.
    func testManyDescriptorsReachAProcessBornInsideInBatches() throws {
        let pipes = 150
        let program = """
            import os, sys, time
            pipes = []
            for i in range(\(pipes)):
                r, w = os.pipe()
                os.write(w, b"%d\\n" % i)
                pipes.append((r, w))
            print("ready", flush=True)
            n = 0
            while True:
                for i, (r, w) in enumerate(pipes):
                    held = os.read(r, 64)
                    if held != b"%d\\n" % i:
                        print(f"FAIL: pipe {i} held {held!r}", flush=True)
                        sys.exit(1)
                    os.write(w, held)
                print(f"tick {n}", flush=True)
                n += 1
                time.sleep(0.05)
            """
        let unshare = try startProgram("userns-pipes", "/usr/bin/unshare",
                                       ["--user", "--map-root-user", "--pid", "--fork", "python3", "-c", program],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(unshare.pid) }
        let python = try firstProcess(under: unshare, named: "python3")
        try unshare.waitFor("tick", atLeast: 2)
        func descriptors() -> [String: String] {
            let directory = "/proc/\(python.pid)/fd"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return Dictionary(uniqueKeysWithValues: names.map { ($0, (try? ProcFile.link(directory + "/" + $0)).map { $0.hasPrefix("pipe:") ? "pipe" : $0 } ?? "?") })
        }
        let before = descriptors()
        XCTAssertGreaterThanOrEqual(before.values.filter { $0 == "pipe" }.count, 2 * pipes)

        let image = try checkpoint(unshare)
        try restoreAndWatch(image, as: unshare)
        XCTAssertEqual(descriptors(), before, "every descriptor at its number, of its kind")
        XCTAssertNotEqual(try NamespaceKind.user.id(pid: python.pid), try NamespaceKind.user.ownID(), "born inside its user namespace")
    }
}
