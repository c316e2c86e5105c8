import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A container Debian's runc made from its default spec and a cgroup
/// namespace: PID, mount, UTS, IPC, network and cgroup namespaces of its
/// own; the capabilities and no_new_privs runc gives; pivot_root into a read-only
/// root, an overlay mounted in crtool's namespace as Docker mounts one; a proc with parts of it bound read-only over themselves and
/// masked (the container's /dev/null bound over files, a read-only tmpfs
/// over directories); a tmpfs /dev with device nodes, a devpts instance
/// of its own, /dev/shm and mqueue; a read-only sysfs with each cgroup
/// hierarchy's directory of the container bound in. The program keeps
/// its log and a page it maps shared in /dev/shm. It is dumped by its pid
/// once `runc run -d` has left, killed, and restored, and carries on in
/// the same mounts, cgroups (seeing them from the same root), hostname
/// and privileges, pid 1 in its namespace.
final class RuncScenarioTests: EndToEndCase {
    static let runc = "/usr/sbin/runc"

    func testAContainerRuncMadeComesBackWithItsMounts() throws {
        try requirePrograms(Self.runc, from: "Debian's runc")
        let root = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let bundle = try scratch.newDirectory("bundle")
        let id = "crtool-test-\(getpid())"
        let merged = try overlay(on: root.path)
        try writeSpec(in: bundle, root: root, at: merged)
        let program = try runDetached(bundle: bundle, id: id)
        let pid = program.pid
        defer { try? stopTree(pid) }
        try program.waitFor("tick", atLeast: 2)
        let mounts = try mountView(of: pid)
        for kind in ["devpts", "mqueue", "sysfs", "proc"] {
            XCTAssertTrue(mounts.contains { $0.split(separator: " ").dropFirst().first.map(String.init) == kind }, "runc made no \(kind): \(mounts)")
        }
        XCTAssertTrue(mounts.contains { $0.hasPrefix("/proc/keys tmpfs tmpfs /null") }, "runc masks /proc/keys with its /dev/null: \(mounts)")
        XCTAssertEqual(mounts.first?.hasPrefix("/ overlay crtool-overlay / "), true, "the root is the overlay: \(mounts)")
        let cgroups = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        XCTAssertTrue(cgroups.contains("/\(id)\n"), cgroups)
        let seen = try cgroupsSeenInside(pid)
        XCTAssertTrue(seen.split(separator: "\n").allSatisfy { $0.hasSuffix(":/") }, "its cgroup namespace is rooted at its cgroups: \(seen)")
        let privileges = try privilegeLines(pid)
        XCTAssertTrue(privileges.contains("NoNewPrivs:\t1"), "\(privileges)")

        let image = try checkpoint(program)
        try restoreAndWatch(image, as: program)
        XCTAssertEqual(try mountView(of: pid).map(withoutCgroupSource), mounts.map(withoutCgroupSource))
        XCTAssertEqual(try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8), cgroups)
        XCTAssertEqual(try cgroupsSeenInside(pid), seen)
        XCTAssertNotEqual(try NamespaceKind.cgroup.id(pid: pid), try NamespaceKind.cgroup.ownID())
        XCTAssertEqual(try privilegeLines(pid), privileges)
        XCTAssertEqual(try UTSNames.of(pid: pid).hostname, "crtool-runc")
        XCTAssertEqual(try ProcStatus.read(pid: pid).namespaceIDs.last, 1, "pid 1 in its namespace")
        // /proc/keys is the container's /dev/null again: it opens, and reads as empty.
        let keys = open("/proc/\(pid)/root/proc/keys", O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(keys, 0, errnoText())
        var byte: UInt8 = 0
        XCTAssertEqual(read(keys, &byte, 1), 0, "/proc/keys is masked again")
        close(keys)
        // The devpts made again is an instance of its own: its first terminal is 0.
        let master = open("/proc/\(pid)/root/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(master, 0, errnoText())
        defer { close(master) }
        XCTAssertEqual(try TerminalOps.ptyIndex(master), 0)
        XCTAssertEqual(access("/proc/\(pid)/root/dev/pts/0", F_OK), 0)
    }

    /// A container restored as another, as a runtime restores one under a
    /// new name: its image and its own layer mounted again elsewhere, the
    /// first mount gone (--root), under other cgroups (--cgroup-root), its
    /// volume and its hosts file bound from new places (--ext-mount-map,
    /// --external mnt[]; left out at the dump, so they must be given). It sees the same mounts and cgroup paths inside,
    /// and its /sys/fs/cgroup shows the cgroups given. Its first root, now
    /// an empty directory, lacks the mount points runc made: refused.
    func testAContainerComesBackAsAnotherOnItsOwnRootCgroupsAndVolumes() throws {
        try requirePrograms(Self.runc, from: "Debian's runc")
        let root = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let bundle = try scratch.newDirectory("bundle")
        let layer = try scratch.newDirectory("upper")
        let first = try overlay(on: root.path, upper: layer)
        var volumes: [String] = [], hosts: [String] = []
        for name in ["a", "b"] {
            let volume = try scratch.newDirectory("volume-\(name)")
            try writeWholeFile(volume + "/name", Array("\(name)\n".utf8))
            volumes.append(volume)
            hosts.append(scratch.newPath("hosts-\(name)"))
            try writeWholeFile(hosts.last!, Array("192.0.2.1 \(name)\n".utf8))
        }
        try writeSpec(in: bundle, root: root, at: first, binds: [(volumes[0], "/volume"), (hosts[0], "/etc/crtool-hosts")])
        let program = try runDetached(bundle: bundle, id: "crtool-test-\(getpid())")
        let pid = program.pid
        defer { try? stopTree(pid) }
        try program.waitFor("tick", atLeast: 2)
        XCTAssertEqual(readTextFile("/proc/\(pid)/root/volume/name"), "a\n")
        let mounts = try mountView(of: pid)
        let seen = try cgroupsSeenInside(pid)
        let memoryBefore = try XCTUnwrap(try CgroupMembership.read(pid: pid).first { $0.controllers == "memory" })
        try assertDumpRefused(program, mentioning: ["--external mnt[/nothing]:x: no mount namespace of the tree binds", "/etc/crtool-hosts", "/volume"],
                              namingAnFd: false, options: ["--external", "mnt[/nothing]:x"])
        // Left out as runc does (the hosts file by its mount point) and by a
        // key of the user's (the volume): each must be given at the restore.
        let image = try checkpoint(program, options: ["--ext-mount-map", "/etc/crtool-hosts:/etc/crtool-hosts", "--external", "mnt[/volume]:data", "--external", "mnt[]"])
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("/volume: \(MountedPath.lexical(volumes[0])) bound, left out as data"), "\(show)")
        XCTAssertEqual(umount2(first, Int32(MNT_DETACH)), 0, errnoText())
        let binding = ["--ext-mount-map", "data:\(volumes[1])", "--external", "mnt[/etc/crtool-hosts]:\(hosts[1])"]
        try assertRestoreRefused(image, pid: pid, mentioning: ["and \(MountedPath.lexical(first))/proc cannot be found now", "nothing was restored"],
                                 options: binding)
        let second = try overlay(on: root.path, upper: layer)
        let unified = try makeCgroup(label: "-runc") { $0.controllers.isEmpty }
        let memory = try makeCgroup(label: "-runc") { $0.controllers.split(separator: ",").contains("memory") }
        let relocating = ["--root", second, "--cgroup-root", "unified:\(unified.membership.path)", "--cgroup-root", "memory:\(memory.membership.path)"]
        let giving = relocating + binding
        try assertRestoreRefused(image, pid: pid, mentioning: [
            "bound at /volume, left out at the dump as data: give its place here with --ext-mount-map data:PATH", "nothing was restored",
        ], options: relocating + ["--external", "mnt[/etc/crtool-hosts]:\(hosts[1])"])
        try assertRestoreRefused(image, pid: pid, mentioning: ["--root \(bundle)/none", "nothing was restored"], options: ["--root", bundle + "/none"])
        try assertRestoreRefused(image, pid: pid, mentioning: [
            "--ext-mount-map /nothing:\(volumes[1]): no mount namespace of the tree binds a file or directory of crtool's at /nothing", "/volume (data)", "nothing was restored",
        ], options: giving + ["--ext-mount-map", "/nothing:\(volumes[1])"])
        try assertRestoreRefused(image, pid: pid, mentioning: [
            "at /volume, and \(MountedPath.lexical(hosts[1])) is not a directory while", "nothing was restored",
        ], options: relocating + ["--ext-mount-map", "data:\(hosts[1])", "--external", "mnt[/etc/crtool-hosts]:\(hosts[1])"])

        try restoreAndWatch(image, as: program, options: giving)
        // The same mounts, runc's bind of its memory cgroup now of the one
        // given, the volume and the hosts file the ones given.
        let boundMemory = "/sys/fs/cgroup/memory cgroup - "
        XCTAssertEqual(try mountView(of: pid).map(withoutCgroupSource), mounts.map(withoutCgroupSource).map { line in
            line.hasPrefix(boundMemory + memoryBefore.path + " ") ? line.replacingOccurrences(of: memoryBefore.path, with: memory.membership.path)
                : line.replacingOccurrences(of: MountedPath.lexical(volumes[0]), with: MountedPath.lexical(volumes[1]))
                    .replacingOccurrences(of: MountedPath.lexical(hosts[0]), with: MountedPath.lexical(hosts[1]))
        })
        var restoredRoot = stat(), secondRoot = stat()
        XCTAssertEqual(stat("/proc/\(pid)/root/", &restoredRoot), 0, errnoText())
        XCTAssertEqual(stat(second, &secondRoot), 0, errnoText())
        XCTAssertEqual(restoredRoot.st_dev, secondRoot.st_dev, "its root is the second overlay")
        let cgroups = try CgroupMembership.read(pid: pid)
        XCTAssertTrue(cgroups.contains(unified.membership) && cgroups.contains(memory.membership), "\(cgroups)")
        XCTAssertEqual(try cgroupsSeenInside(pid), seen)
        // The cgroup directory runc bound in is the one given now.
        let limit = "\(memory.directory)/memory.limit_in_bytes"
        try writeWholeFile(limit, Array("123731968".utf8))
        XCTAssertEqual(readTextFile("/proc/\(pid)/root/sys/fs/cgroup/memory/memory.limit_in_bytes"), "123731968\n")
        XCTAssertEqual(readTextFile("/proc/\(pid)/root/volume/name"), "b\n", "the volume given")
        XCTAssertEqual(readTextFile("/proc/\(pid)/root/etc/crtool-hosts"), "192.0.2.1 b\n", "the hosts file given")
    }

    /// A container in a network namespace its runtime made, named in the
    /// spec by path (as the CNI runtimes give runc one): runc's checkpoint
    /// leaves it out with --external net[INODE]:extRootNetNS and gives
    /// the one made for the restore with --inherit-fd. The program keeps
    /// TCP, unix and UDP traffic going inside it and comes back in the
    /// namespace given, its listener there, its sysfs showing that
    /// namespace's devices.
    func testAContainerInANetworkNamespaceItsRuntimeMadeComesBackInTheOneGiven() throws {
        try checkContainerComesBackInTheNetworkNamespaceGiven(rootless: false)
    }

    /// The same from runc's rootless spec: its pid 1 is born inside the
    /// user namespace the restore makes, where it has no capabilities
    /// over the namespace given, so its stand-in parent enters that one
    /// first and it is born there.
    func testARootlessContainerInANetworkNamespaceItsRuntimeMadeComesBackInTheOneGiven() throws {
        try checkContainerComesBackInTheNetworkNamespaceGiven(rootless: true)
    }

    private func checkContainerComesBackInTheNetworkNamespaceGiven(rootless: Bool) throws {
        try requirePrograms(Self.runc, from: "Debian's runc")
        let first = try makeRuntimeNetworkNamespace("runc-a")
        let second = try makeRuntimeNetworkNamespace("runc-b")
        let root = try ContainerRoot(in: scratch, fixture: "namespaces/netns.py")
        let bundle = try scratch.newDirectory("bundle")
        // A rootless container's root is a directory of crtool's, as in the test above.
        try writeSpec(in: bundle, root: root, at: rootless ? root.path : try overlay(on: root.path), rootless: rootless, arguments: [root.fixture, "runc", "7792", "--here"],
                      network: "/run/netns/\(first.name)")
        let program = try runDetached(bundle: bundle, id: "crtool-test-\(getpid())")
        let pid = program.pid
        defer { try? stopTree(pid) }
        try program.waitFor("runc tick", atLeast: 3)
        XCTAssertEqual(try NamespaceKind.net.id(pid: pid), first.id)
        XCTAssertTrue(program.log.lines().contains { $0.contains("devices lo,crtool-br0") }, program.log.tail())

        let image = try checkpoint(program, options: ["--tcp-established", "--external", "net[\(first.id)]:extRootNetNS"])
        let mark = program.lineCount
        try restore(image, pid: pid, givingNamespace: second.name, for: "extRootNetNS")
        XCTAssertEqual(try NamespaceKind.net.id(pid: pid), second.id)
        XCTAssertEqual(try ProcStatus.read(pid: pid).namespaceIDs.last, 1, "pid 1 in its namespace")
        try program.waitForMore("runc tick", 5, after: mark)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "runc fresh ok", from: mark)
        assertSequence(program, "runc tick")
        XCTAssertEqual(program.log.lines().filter { $0.contains("FAIL") }, [])
        let bridge = try NamespaceEntry.run(in: .net, of: pid) { try Loopback.deviceNames() }
        XCTAssertTrue(bridge.contains("crtool-br0"), "\(bridge)")
        // Each bridge has a MAC address of its own: sysfs shows the namespace
        // it was mounted in (the rootless spec binds the host's instead).
        let given = rootless ? nil : try runCommand("/usr/sbin/ip", ["netns", "exec", second.name, "cat", "/sys/class/net/crtool-br0/address"],
                                   outputPrefix: scratch.newPath("mac"), timeout: 10)
        if let given {
            XCTAssertTrue(given.succeeded, "\(given)")
            XCTAssertEqual(readTextFile("/proc/\(pid)/root/sys/class/net/crtool-br0/address"), given.stdout, "the container's sysfs shows the namespace given")
        }
        XCTAssertEqual(try nftTables(inNamespace: second.name), [])
        if rootless {
            let user = try NamespaceKind.user.id(pid: pid)
            XCTAssertNotEqual(user, try NamespaceKind.user.ownID())
            XCTAssertEqual(try NamespaceKind.ownerID(path: NamespaceKind.pid.path(pid: pid), pid: pid), user, "its PID namespace is its user namespace's")
        }
    }

    /// A container runc made in a user namespace of its own, from its
    /// rootless spec (user, PID, mount, UTS and IPC namespaces; /sys bound
    /// from the host): its pid 1 is the first process of a PID namespace
    /// the user namespace owns, and the root of the tree once `runc run
    /// -d` has left. It comes back inside a new user namespace with the
    /// same maps, owning its other namespaces, pid 1 again, in the same
    /// mounts, and writes on without a gap.
    func testAContainerRuncMadeInAUserNamespaceComesBack() throws {
        try requirePrograms(Self.runc, from: "Debian's runc")
        let root = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let bundle = try scratch.newDirectory("bundle")
        let id = "crtool-test-userns-\(getpid())"
        try writeSpec(in: bundle, root: root, at: root.path, rootless: true)
        let program = try runDetached(bundle: bundle, id: id)
        let pid = program.pid
        defer { try? stopTree(pid) }
        try program.waitFor("tick", atLeast: 2)
        let user = try NamespaceKind.user.id(pid: pid)
        XCTAssertNotEqual(user, try NamespaceKind.user.ownID(), "runc made a user namespace")
        XCTAssertEqual(ProcessTable.namespacePids(of: [pid])[pid]?.first, [pid, 1])
        let mounts = try mountView(of: pid)
        XCTAssertTrue(mounts.contains { $0.hasPrefix("/proc proc ") }, "\(mounts)")
        let maps = ["uid_map", "gid_map"].map { readTextFile("/proc/\(pid)/\($0)") }

        let image = try checkpoint(program)
        try restoreAndWatch(image, as: program)
        XCTAssertEqual(try mountView(of: pid), mounts)
        XCTAssertEqual(ProcessTable.namespacePids(of: [pid])[pid]?.first, [pid, 1], "pid 1 in its namespace")
        XCTAssertEqual(["uid_map", "gid_map"].map { readTextFile("/proc/\(pid)/\($0)") }, maps)
        XCTAssertEqual(try UTSNames.of(pid: pid).hostname, "crtool-runc")
        let restoredUser = try NamespaceKind.user.id(pid: pid)
        XCTAssertNotEqual(restoredUser, try NamespaceKind.user.ownID())
        for kind in [NamespaceKind.pid, .mnt, .uts, .ipc] {
            XCTAssertEqual(try NamespaceKind.ownerID(path: kind.path(pid: pid), pid: pid), restoredUser, "\(kind) belongs to its user namespace")
        }
        XCTAssertEqual(ProcessTable.children(of: pid), [], "no helper is left behind")
    }

    /// A container with a terminal (process.terminal, as docker -t and
    /// podman -t run one): runc makes the pty in the container's devpts,
    /// binds it at /dev/console, and sends its master to the console
    /// socket, outside the tree. The dump is refused, naming the
    /// terminal, until it is left out (--external /dev/pts/0); the restore
    /// gives the container a new terminal in its place (--inherit-fd),
    /// which is then its stdio, its /dev/console and its controlling
    /// terminal, and the program writes on there.
    func testAContainerWithATerminalComesBackOnTheTerminalGivenInItsPlace() throws {
        try requirePrograms(Self.runc, from: "Debian's runc")
        let root = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let bundle = try scratch.newDirectory("bundle")
        try writeSpec(in: bundle, root: root, at: root.path, terminal: true)
        let console = BuildProducts.packageRoot + "/fixtures/namespaces/console.py"
        let socket = scratch.newPath("console.sock")
        let receiver = try startProgram("console", "/usr/bin/python3", [console, "receive", socket], isReady: nil)
        defer { try? stopTree(receiver.pid) }
        XCTAssertTrue(poll(timeout: 15) { fileExists(socket) }, "the console socket listens")
        let started = try runDetached(bundle: bundle, id: "crtool-test-tty-\(getpid())", consoleSocket: socket)
        let pid = started.pid
        let program = Fixture(name: "runc", pid: pid, log: receiver.log, stderrPath: receiver.stderrPath)
        defer { try? stopTree(pid) }
        try program.waitFor("tick", atLeast: 2)
        XCTAssertEqual(try ProcFile.link("/proc/\(pid)/fd/1"), "/dev/pts/0")
        try assertDumpRefused(program, mentioning: ["has terminals open in it whose masters are not in the tree", "/dev/pts/0"], namingAnFd: false)

        let image = try checkpoint(program, options: ["--external", "/dev/pts/0"])
        let lastBefore = program.log.lines().last { $0.hasPrefix("tick") }
        let given = try startProgram("console-given", "/usr/bin/python3",
                                     [console, "give", BuildProducts.crtool, "restore", "-D", image, "-d", "--inherit-fd", "fd[3]:/dev/pts/0"],
                                     isReady: { $0.hasPrefix("crtool") })
        defer { try? stopTree(given.pid) }
        XCTAssertTrue(given.log.lines().contains("crtool 0"), "\(given.log.lines())\n\(given.stderrTail())")
        let restored = Fixture(name: "runc", pid: pid, log: given.log, stderrPath: given.stderrPath)
        try restored.waitFor("tick", atLeast: 3)
        assertSequence(restored, "tick")
        assertNoFailures(restored)
        let firstAfter = try XCTUnwrap(given.log.lines().first { $0.hasPrefix("tick") })
        XCTAssertGreaterThan(Int(firstAfter.split(separator: " ")[1]) ?? 0, Int(lastBefore?.split(separator: " ")[1] ?? "") ?? .max,
                             "the program carries on where it was")
        // "given /dev/pts/N MAJOR:MINOR"
        let announced = try XCTUnwrap(given.log.lines().first { $0.hasPrefix("given ") }).split(separator: " ")
        let device = String(announced[2])
        for path in ["/proc/\(pid)/fd/0", "/proc/\(pid)/fd/1", "/proc/\(pid)/root/dev/console"] {
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0, path)
            XCTAssertEqual(DeviceNumber(UInt64(st.st_rdev)).description, device, "\(path) is the terminal given")
        }
        let fields = try XCTUnwrap(readTextFile("/proc/\(pid)/stat")).split(separator: ")").last!.split(separator: " ")
        let terminal = UInt64(fields[4]) ?? 0  // tty_nr
        XCTAssertEqual("\((terminal >> 8) & 0xfff):\((terminal & 0xff) | ((terminal >> 12) & 0xfff00))", device, "its controlling terminal")
    }

    /// runc mounts each cgroup hierarchy anew in the container's cgroup
    /// namespace, as "cgroup"; the restore binds the container's cgroup
    /// directory from crtool's mount of the hierarchy, the same directory,
    /// whose mount carries the name crtool's has ("systemd" for one).
    private func withoutCgroupSource(_ line: String) -> String {
        var fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if fields.count > 2, fields[1] == "cgroup" { fields[2] = "-" }
        return fields.joined(separator: " ")
    }

    /// /proc/PID/cgroup as the process's cgroup namespace shows it.
    private func cgroupsSeenInside(_ pid: pid_t) throws -> String {
        let seen = try runCommand("/usr/bin/nsenter", ["-t", "\(pid)", "--cgroup", "cat", "/proc/\(pid)/cgroup"],
                                  outputPrefix: scratch.newPath("cgroups-inside"), timeout: 10)
        guard seen.succeeded else { throw HarnessError("nsenter failed: \(seen)") }
        return seen.stdout
    }

    /// The capability sets and no_new_privs runc gave the program.
    private func privilegeLines(_ pid: pid_t) throws -> [String] {
        try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("Cap") || $0.hasPrefix("NoNewPrivs") }
    }

    /// `runc run -d` of the bundle: the container's pid 1, its output
    /// in the scratch directory; deleted when the test ends.
    private func runDetached(bundle: String, id: String, consoleSocket: String? = nil) throws -> Fixture {
        let started = scratch.newPath("container")
        let console = consoleSocket.map { ["--console-socket", $0] } ?? []
        let run = try runCommand(Self.runc, ["run", "--detach"] + console + ["--bundle", bundle, "--pid-file", bundle + "/pid", id],
                                 outputPrefix: started, timeout: 30)
        addTeardownBlock { [unowned self] in
            _ = try? runCommand(Self.runc, ["delete", "--force", id], outputPrefix: self.scratch.newPath("delete"), timeout: 30)
        }
        guard run.succeeded, let pid = pid_t((readTextFile(bundle + "/pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("runc run failed or wrote no pid file: \(run)")
        }
        return Fixture(name: "runc", pid: pid, log: LogFile(path: started + ".stdout"), stderrPath: started + ".stderr")
    }

    /// An overlay mounted in crtool's namespace on `lower`, as Docker
    /// mounts an image's layers and a container's own, which runc gets as
    /// the root; unmounted when the test ends.
    /// `upper`: the container's own layer, when it is mounted again.
    private func overlay(on lower: String, upper given: String? = nil) throws -> String {
        let upper = try given ?? scratch.newDirectory("upper"), work = try scratch.newDirectory("work"), merged = try scratch.newDirectory("merged")
        let mounted = try runCommand("/bin/mount", ["-t", "overlay", "crtool-overlay", "-o", "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)", merged],
                                     outputPrefix: scratch.newPath("mount-overlay"), timeout: 10)
        guard mounted.succeeded else { throw HarnessError("mounting the overlay failed: \(mounted)") }
        addTeardownBlock { umount2(merged, Int32(MNT_DETACH)) }
        return merged
    }

    /// runc's default spec, changed as a test needs it: the program and
    /// its root, a hostname, a cgroup namespace, /usr of the host, and the
    /// scratch directory at its own path, where the program's stdout is.
    /// `rootless`: runc's rootless spec instead, in a user namespace,
    /// without the cgroup namespace. `terminal`: a terminal runc makes.
    /// `arguments`: python3's, in place of the fixture's with /dev/shm;
    /// `network`: a network namespace's path for runc to put it in;
    /// `binds`: more files and directories of the host bound in.
    private func writeSpec(in bundle: String, root: ContainerRoot, at merged: String, rootless: Bool = false, terminal: Bool = false,
                           arguments: [String]? = nil, network: String? = nil, binds: [(source: String, destination: String)] = []) throws {
        let spec = try runCommand(Self.runc, ["spec", "--bundle", bundle] + (rootless ? ["--rootless"] : []), outputPrefix: scratch.newPath("spec"), timeout: 30)
        guard spec.succeeded else { throw HarnessError("runc spec failed: \(spec)") }
        let path = bundle + "/config.json"
        guard var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any],
              var process = config["process"] as? [String: Any], let mounts = config["mounts"] as? [[String: Any]] else {
            throw HarnessError("runc spec wrote no config.json of the expected shape")
        }
        process["terminal"] = terminal
        process["args"] = ["/usr/bin/python3"] + (arguments ?? [root.fixture, "/dev/shm"])
        config["process"] = process
        config["root"] = ["path": merged, "readonly": true]
        config["hostname"] = "crtool-runc"
        if var linux = config["linux"] as? [String: Any], var namespaces = linux["namespaces"] as? [[String: Any]] {
            if let network { namespaces = namespaces.filter { $0["type"] as? String != "network" } + [["type": "network", "path": network]] }
            if !rootless { namespaces.append(["type": "cgroup"]) }
            linux["namespaces"] = namespaces
            config["linux"] = linux
        }
        config["mounts"] = mounts + [
            ["destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]],
            ["destination": scratch.path, "type": "bind", "source": scratch.path, "options": ["bind"]],
        ] + binds.map { ["destination": $0.destination, "type": "bind", "source": $0.source, "options": ["bind"]] }
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: path))
    }
}
