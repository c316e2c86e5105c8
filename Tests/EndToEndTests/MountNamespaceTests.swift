import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A process in a mount namespace of its own (unshare -m, systemd's
/// PrivateTmp=, ProtectSystem=, ProtectHome=) comes back in a namespace of
/// its own with the same mounts: crtool's that the namespace kept, with
/// the flags it gave them, directories bound from crtool's namespace, a
/// tmpfs of its own with what it held, and none of crtool's it had
/// unmounted. crtool's own mounts are left as they were.
/// fixtures/namespaces/mountns.py checks its mounts every tick.
final class MountNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/mountns.py"

    func testAProcessInAMountNamespaceOfItsOwnComesBackWithItsMounts() throws {
        let base = try canonical(scratch.newDirectory("mounts"))
        let (source, shared, hostOnly) = (base + "/source", base + "/shared", base + "/host-only")
        for directory in [source, shared, hostOnly] { XCTAssertEqual(mkdir(directory, 0o755), 0) }
        // A mount of crtool's namespace that the program's unmounts: the
        // restore's copy of crtool's namespace must lose it again.
        try mountTmpfs("crtool-host-only", at: hostOnly)
        defer { umount2(hostOnly, Int32(MNT_DETACH)) }
        // A shared mount of crtool's, which the program's tmpfs sits on:
        // a mount made on its copy before the copy is made a slave would
        // appear in crtool's namespace too.
        try mountTmpfs("crtool-shared", at: shared)
        defer { umount2(shared, Int32(MNT_DETACH)) }
        let madeShared = try runCommand("/bin/mount", ["--make-shared", shared], outputPrefix: scratch.newPath("make-shared"), timeout: 10)
        XCTAssertTrue(madeShared.succeeded, "\(madeShared)")
        let point = shared + "/point"
        XCTAssertEqual(mkdir(point, 0o755), 0)
        let setup = [
            "mount -t tmpfs -o size=1m,mode=755 crtool-tmp \(point)",
            "mkdir \(point)/data \(point)/ro",
            "touch \(point)/empty", "chown 1:2 \(point)/empty", "chmod 640 \(point)/empty",
            "ln -s /etc/hostname \(point)/link",
            "mknod -m 620 \(point)/null c 1 3",
            "mount --bind \(source) \(point)/data",
            "mount --bind /usr/share \(point)/ro", "mount -o remount,bind,ro,nosuid \(point)/ro",
            "mount --make-shared \(point)",
            "umount \(hostOnly)",
            "cd \(point)",
            "exec python3 \(script) \(point)",
        ].joined(separator: " && ")
        let crtools = try mountView(of: getpid())
        let program = try startProgram("mountns", "/usr/bin/unshare", ["--mount", "--propagation", "slave", "/bin/sh", "-c", setup])
        defer { try? stopTree(program.pid) }
        let own = try NamespaceKind.mnt.ownID()
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: program.pid), own)
        let before = try mountView(of: program.pid)
        XCTAssertTrue(before.contains("\(point) tmpfs crtool-tmp / relatime shared"), before.joined(separator: "\n"))

        let image = try checkpoint(program)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let mounts = try XCTUnwrap(saved.first { $0.kind == .mnt }?.mounts)
        XCTAssertEqual(mounts.first { $0.mountPoint == point }?.origin, .fresh)
        XCTAssertEqual(mounts.first { $0.mountPoint == point }?.entries?.map(\.path).sorted(), ["", "data", "empty", "link", "null", "ro"])
        XCTAssertEqual(mounts.first { $0.mountPoint == point + "/data" }?.bindSource, source)
        XCTAssertEqual(mounts.first { $0.mountPoint == point + "/ro" }?.bindSource, "/usr/share")
        XCTAssertEqual(mounts.first?.origin, .host)
        XCTAssertFalse(mounts.contains { $0.mountPoint == hostOnly }, "the unmounted host mount was saved")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("2 bound, 1 made anew") && shown.stdout.contains("    \(point): tmpfs made anew, relatime"), "\(shown)")

        try restoreAndWatch(image, as: program)
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: program.pid), own, "the restored process is in crtool's mount namespace")
        XCTAssertEqual(try mountView(of: program.pid).sorted(), before.sorted())
        XCTAssertEqual(try mountView(of: getpid()), crtools, "the restore changed crtool's own mounts")
        // The log lives in the host directory bound into the namespace.
        let written = (readTextFile(source + "/log") ?? "").split(separator: "\n").compactMap { Int($0) }
        XCTAssertGreaterThan(written.count, 5)
        XCTAssertEqual(written, Array(0..<written.count), "the numbers the program wrote through the bind mount")
        var st = stat()
        XCTAssertEqual(lstat("/proc/\(program.pid)/root\(point)/empty", &st), 0)
        XCTAssertEqual([st.st_uid, st.st_gid, st.st_mode & 0o7777, UInt32(st.st_size)], [1, 2, 0o640, 0])
        XCTAssertEqual(lstat("/proc/\(program.pid)/root\(point)/null", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o620)
    }

    /// A process whose namespace's root is a directory of crtool's
    /// (pivot_root into it, as container runtimes do, leaving none of
    /// crtool's mounts) comes back in that root with the same mounts: /usr
    /// bound read-only, a proc, a /dev tmpfs with /dev/null bound on a
    /// file of it, a /tmp tmpfs the program writes in, and the harness's
    /// directory bound at its own path so its stdout reaches the test.
    func testAProcessInAContainerRootComesBackInIt() throws {
        let container = try ContainerRoot(in: scratch, fixture: "namespaces/tmpfsfiles.py")
        let root = container.path
        let setup = (container.entering + ["exec python3 \(container.fixture) /tmp"]).joined(separator: " && ")
        let crtools = try mountView(of: getpid())
        let program = try startProgram("container", "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", setup])
        defer { try? stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 2)
        let before = try mountView(of: program.pid)
        XCTAssertTrue(before.first?.hasPrefix("/ ") == true && before.first?.contains(" \(root) ") == true, before.joined(separator: "\n"))

        let image = try checkpoint(program)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("7 mounts: 0 of crtool's, 4 bound, 3 made anew"), "\(shown)")
        XCTAssertTrue(shown.stdout.contains("    /: \(root) bound"), "\(shown)")
        try restoreAndWatch(image, as: program)
        XCTAssertEqual(try mountView(of: program.pid).sorted(), before.sorted())
        XCTAssertEqual(try mountView(of: getpid()), crtools, "the restore changed crtool's own mounts")
        var inside = stat(), outside = stat()
        XCTAssertEqual(stat("/proc/\(program.pid)/root\(container.fixture)", &inside), 0)
        XCTAssertEqual(stat(root + container.fixture, &outside), 0)
        XCTAssertEqual([inside.st_dev, inside.st_ino], [outside.st_dev, outside.st_ino], "the restored process's root is not the container's")
    }

    /// A name the host gave a namespace (ip netns add binds it at
    /// /run/netns/NAME, a mount of nsfs) is the host's: the namespace
    /// saves it not, and the restore leaves it where crtool's copy has it.
    func testANamespaceNamedByTheHostIsLeftToTheHost() throws {
        let name = "crtool-mnt-\(getpid())"
        let added = try runCommand("/usr/sbin/ip", ["netns", "add", name], outputPrefix: scratch.newPath("ip-add"), timeout: 10)
        XCTAssertTrue(added.succeeded, "\(added)")
        defer { _ = try? runCommand("/usr/sbin/ip", ["netns", "delete", name], outputPrefix: scratch.newPath("ip-delete"), timeout: 10) }
        let program = try startProgram("named", "/usr/bin/unshare", ["--mount", "--propagation", "slave", "/bin/sh", "-c", "echo ready && exec sleep 600"])
        defer { try? stopTree(program.pid) }
        let before = try mountView(of: program.pid)
        XCTAssertTrue(before.contains { $0.hasPrefix("/run/netns/\(name) nsfs ") }, before.joined(separator: "\n"))

        let image = try checkpoint(program)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        XCTAssertEqual(saved.flatMap { $0.mounts ?? [] }.filter { $0.fsType == "nsfs" }.map(\.mountPoint), [])
        try restore(image, as: program)
        XCTAssertEqual(try mountView(of: program.pid).sorted(), before.sorted())
    }

    /// A file system only the namespace has and crtool does not make anew
    /// (a BPF file system of its own here) is named.
    func testAMountCrtoolCannotMakeAgainIsRefusedByName() throws {
        let point = try canonical(scratch.newDirectory("bpf"))
        let program = try startProgram("bpffs", "/usr/bin/unshare", [
            "--mount", "/bin/sh", "-c", "mount -t bpf crtool-bpf \(point) && echo ready && exec sleep 600",
        ])
        defer { try? stopTree(program.pid) }
        try assertDumpRefused(program, mentioning: ["the mount at \(point) in mnt:[", "bpf crtool-bpf", "is not a file system crtool makes anew"],
                              namingAnFd: false)
    }

    /// Two parts of one tmpfs of the namespace's own, neither inside the
    /// other and the whole mounted nowhere, would come back as two file
    /// systems: refused, naming both.
    func testTwoPartsOfOneTmpfsAreRefused() throws {
        let whole = try canonical(scratch.newDirectory("whole"))
        let one = try canonical(scratch.newDirectory("one"))
        let two = try canonical(scratch.newDirectory("two"))
        let program = try startProgram("parts", "/usr/bin/unshare", [
            "--mount", "--propagation", "private", "/bin/sh", "-c",
            "mount -t tmpfs crtool-parts \(whole) && mkdir \(whole)/a \(whole)/b && mount --bind \(whole)/a \(one) && mount --bind \(whole)/b \(two) "
                + "&& umount \(whole) && echo ready && exec sleep 600",
        ])
        defer { try? stopTree(program.pid) }
        try assertDumpRefused(program, mentioning: ["the tmpfs at \(two) in mnt:[", "shows /b of the one whose /a is at \(one)",
                                                    "crtool would make them two file systems"], namingAnFd: false)
    }

    /// A unix socket bound to a path the namespace shares with crtool's is
    /// bound again under the same name, and answers there.
    func testAUnixListenerInAMountNamespaceKeepsItsName() throws {
        let base = try canonical(scratch.newDirectory("mounts"))
        let serve = "import socket; s = socket.socket(socket.AF_UNIX); s.bind('\(base)/sock'); s.listen(); print('ready', flush=True)\n"
            + "while True:\n c, _ = s.accept(); c.sendall(s.getsockname().encode()); c.close()"
        let program = try startProgram("unix", "/usr/bin/unshare", ["--mount", "python3", "-c", serve])
        defer { try? stopTree(program.pid) }
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: program.pid), try NamespaceKind.mnt.ownID())
        _ = try roundTrip(program)
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in (base + "/sock").utf8.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(connected, 0, "connect: \(String(cString: strerror(errno)))")
        var reply = [UInt8](repeating: 0, count: 4096)
        let count = read(client, &reply, reply.count)
        XCTAssertEqual(String(decoding: reply.prefix(max(count, 0)), as: UTF8.self), base + "/sock", "the name the restored listener has")
    }

    /// crtool binds a unix socket again from its own namespace, where a
    /// path under a bind mount of the namespace's is another name: such a
    /// socket is refused at the dump, not at the restore.
    func testAUnixSocketBoundUnderABindMountIsRefusedByName() throws {
        let base = try canonical(scratch.newDirectory("mounts"))
        let (source, point) = (base + "/source", base + "/point")
        for directory in [source, point] { XCTAssertEqual(mkdir(directory, 0o755), 0) }
        let listen = "import socket, time; s = socket.socket(socket.AF_UNIX); s.bind('\(point)/sock'); s.listen(); print('ready', flush=True); time.sleep(600)"
        let program = try startProgram("unix", "/usr/bin/unshare", [
            "--mount", "/bin/sh", "-c", "mount --bind \(source) \(point) && exec python3 -c \"\(listen)\"",
        ])
        defer { try? stopTree(program.pid) }
        try assertDumpRefused(program, mentioning: ["is a unix socket bound to \(point)/sock", "has from \(source)/sock of crtool's"])
    }

    /// An image whose namespace cannot be made is refused before any
    /// process exists: a mount of crtool's it shared that crtool's
    /// namespace no longer has, a bind source that is gone, and a hostile
    /// list of mounts, each named.
    func testARestoreRefusesANamespaceItCannotMake() throws {
        let base = try canonical(scratch.newDirectory("mounts"))
        let (shared, source, point) = (base + "/shared", base + "/source", base + "/point")
        for directory in [shared, source, point] { XCTAssertEqual(mkdir(directory, 0o755), 0) }
        try mountTmpfs("crtool-shared", at: shared)
        defer { umount2(shared, Int32(MNT_DETACH)) }
        let program = try startProgram("binder", "/usr/bin/unshare", [
            "--mount", "/bin/sh", "-c", "mount --bind \(source) \(point) && echo ready && exec sleep 600",
        ])
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let file = NamespaceImage.listFile
        for (from, to, field) in [
            ("\"parent\" : 0", "\"parent\" : 99999", ".parent"),
            ("\"origin\" : \"host\"", "\"origin\" : \"fresh\"", "mounts[0].origin"),
            ("\"bindSource\" : \"\(source)\"", "\"bindSource\" : \"relative\"", ".bindSource"),
            ("\"mountPoint\" : \"\(point)\"", "\"mountPoint\" : \"\(point)/../../etc\"", ".mountPoint"),
        ] {
            try assertRestoreRefused(try editedCopy(of: image, file: file, replacing: from, with: to), pid: program.pid, mentioning: [file, field])
        }
        XCTAssertEqual(rename(source, source + ".moved"), 0)
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["had \(source) of crtool's namespace bound at \(point)", "put it back"])
        XCTAssertEqual(rename(source + ".moved", source), 0)
        XCTAssertEqual(umount2(shared, Int32(MNT_DETACH)), 0)
        try assertRestoreRefused(image, pid: program.pid, mentioning: ["had crtool's mount at \(shared) (tmpfs crtool-shared)", "no such mount there now"])
        try mountTmpfs("crtool-shared", at: shared)
        try restore(image, as: program)
        XCTAssertTrue(try mountView(of: program.pid).contains { $0.hasPrefix("\(point) ") })
    }

    private func mountTmpfs(_ name: String, at point: String) throws {
        let mounted = try runCommand("/bin/mount", ["-t", "tmpfs", name, point], outputPrefix: scratch.newPath("mount"), timeout: 10)
        XCTAssertTrue(mounted.succeeded, "\(mounted)")
    }
}
