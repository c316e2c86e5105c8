import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A process in a user namespace of its own (unshare --user, a rootless
/// sandbox) comes back in one with the same maps, made by the same uid,
/// with the same ids in crtool's namespace and in its own, and owning
/// the namespaces that were made inside it: fixtures/namespaces/userns.py
/// checks its ids and map every tick and, on SIGUSR1, uses powers only
/// an owner has (sethostname, mount, bringing its loopback down and up).
final class UserNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/userns.py"

    private func start(_ command: [String]) throws -> Fixture {
        try startProgram("userns", command[0], Array(command.dropFirst()), isReady: { $0.hasPrefix("ready") })
    }

    /// Asks for the powers line and returns it.
    private func powers(of fixture: Fixture, from mark: Int = 0) throws -> String {
        try fixture.signal(SIGUSR1)
        return try fixture.waitFor("powers", from: mark) { $0.hasPrefix("powers") }.line
    }

    private func idsAndCapabilities(_ pid: pid_t) -> [String] {
        let fields = ["Uid:", "Gid:", "Groups:", "CapPrm:", "CapEff:", "CapBnd:"]
        return (readTextFile("/proc/\(pid)/status") ?? "").split(separator: "\n").map(String.init).filter { line in
            fields.contains { line.hasPrefix($0) }
        }
    }

    private func userNamespaceFiles(_ pid: pid_t) -> [String?] {
        ["uid_map", "gid_map", "setgroups"].map { readTextFile("/proc/\(pid)/\($0)") }
    }

    func testAUserNamespaceComesBackOwningTheNamespacesMadeInsideIt() throws {
        let fixture = try start(["/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--uts", "--net", "python3", script, "mnt", "uts", "net"])
        defer { try? stopTree(fixture.pid) }
        let first = try powers(of: fixture)
        XCTAssertTrue(first.hasSuffix(" mount ok link ok") && first.hasPrefix("powers host renamed-"), first)
        let user = try NamespaceKind.user.id(pid: fixture.pid)
        XCTAssertNotEqual(user, try NamespaceKind.user.ownID())
        let files = userNamespaceFiles(fixture.pid)
        let ids = idsAndCapabilities(fixture.pid)
        let net = try NamespaceKind.net.id(pid: fixture.pid)

        let image = try checkpoint(fixture)
        XCTAssertEqual(try ImageDirectory.open(at: image).manifest.formatVersion, Manifest.userNamespaceFormatVersion)
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("user namespace user:[\(user)] of the tree's own: made by uid 0, uid_map 0 0 1, gid_map 0 0 1, setgroups denied"), shown)
        XCTAssertTrue(shown.contains("network namespace net:[\(net)] of the tree's own, made inside user:[\(user)]"), shown)
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("tick", 3, after: mark)
        let after = try powers(of: fixture, from: mark)
        XCTAssertTrue(after.hasSuffix(" mount ok link ok") && after.hasPrefix("powers host renamed-"), "the namespaces made inside it are still its own: \(after)")
        XCTAssertEqual(try fixture.waitFor("held", from: mark) { $0.hasPrefix("held") }.line, "held 0 0 1",
                       "a /proc file it held open shows ids as its own user namespace sees them")
        XCTAssertEqual(userNamespaceFiles(fixture.pid), files)
        XCTAssertEqual(idsAndCapabilities(fixture.pid), ids)
        let restored = try NamespaceKind.user.id(pid: fixture.pid)
        XCTAssertNotEqual(restored, try NamespaceKind.user.ownID())
        for kind in [NamespaceKind.mnt, .uts, .net] {
            XCTAssertNotEqual(try kind.id(pid: fixture.pid), try kind.ownID(), kind.title)
            XCTAssertEqual(try NamespaceKind.ownerID(path: kind.path(pid: fixture.pid), pid: fixture.pid), restored, "its \(kind.title) belongs to its user namespace")
        }
        XCTAssertEqual(ProcessTable.children(of: fixture.pid), [], "no helper is left behind")
        assertSequence(fixture, "tick")
        assertNoFailures(fixture)
    }

    /// Made by uid 1000, which maps to root inside: the process is uid
    /// 1000 in crtool's namespace, 0 in its own, with every capability
    /// there, and the namespace's maker is uid 1000 again.
    func testAUserNamespaceMadeByAnotherUserKeepsItsMakerAndIds() throws {
        let fixture = try start(["/usr/bin/setpriv", "--reuid=1000", "--regid=1000", "--clear-groups",
                                 "/usr/bin/unshare", "--user", "--map-root-user", "--mount", "python3", script, "mnt"])
        defer { try? stopTree(fixture.pid) }
        let ids = idsAndCapabilities(fixture.pid)
        XCTAssertTrue(ids.contains("Uid:\t1000\t1000\t1000\t1000"), "\(ids)")
        XCTAssertEqual(try NamespaceKind.ownerUID(path: NamespaceKind.user.path(pid: fixture.pid), pid: fixture.pid), 1000)
        let image = try checkpoint(fixture)
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(idsAndCapabilities(fixture.pid), ids)
        XCTAssertEqual(try NamespaceKind.ownerUID(path: NamespaceKind.user.path(pid: fixture.pid), pid: fixture.pid), 1000)
        XCTAssertEqual(try powers(of: fixture, from: mark), "powers host - mount ok link -")
        XCTAssertTrue(fixture.log.lines()[mark...].contains { $0.hasSuffix("uid 0 gid 0 map 0 1000 1") }, fixture.log.tail())
        assertSequence(fixture, "tick")
        assertNoFailures(fixture)
    }

    /// A user mapped to 1000 inside has no capabilities after its exec,
    /// and none after the restore; a namespace with no map at all leaves
    /// every id unmapped (65534 inside), as before.
    func testMappedAndUnmappedUsersComeBackAsTheyWere() throws {
        for (flags, expected) in [(["--map-user=1000", "--map-group=1000"], "uid 1000 gid 1000 map 1000 0 1"), ([], "uid 65534 gid 65534 map ")] {
            let fixture = try start(["/usr/bin/unshare", "--user"] + flags + ["python3", script])
            defer { try? stopTree(fixture.pid) }
            let ids = idsAndCapabilities(fixture.pid)
            XCTAssertTrue(ids.contains("CapEff:\t0000000000000000"), "\(ids)")
            let files = userNamespaceFiles(fixture.pid)
            let image = try checkpoint(fixture)
            let mark = fixture.lineCount
            try restore(image, as: fixture)
            try fixture.waitForMore("tick", 3, after: mark)
            XCTAssertEqual(idsAndCapabilities(fixture.pid), ids, "\(flags)")
            XCTAssertEqual(userNamespaceFiles(fixture.pid), files, "\(flags)")
            XCTAssertTrue(fixture.log.lines()[mark...].contains { $0.hasSuffix(expected) }, "\(flags): \(fixture.log.tail())")
            assertSequence(fixture, "tick")
            assertNoFailures(fixture)
        }
    }

    /// Threads are made after their process entered its user namespace,
    /// each with its tid (ns_last_pid, as clone3 takes no set_tid there).
    func testAProcessWithThreadsInAUserNamespaceKeepsItsThreadIDs() throws {
        let fixture = try start(["/usr/bin/unshare", "--user", "--map-root-user", "python3", script, "threads"])
        defer { try? stopTree(fixture.pid) }
        let tids = ProcessTable.threadIds(of: fixture.pid)
        XCTAssertEqual(tids.count, 4, "\(tids)")
        let image = try checkpoint(fixture)
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("tick", 5, after: mark)
        XCTAssertEqual(ProcessTable.threadIds(of: fixture.pid), tids)
        XCTAssertEqual(try NamespaceKind.user.id(pid: fixture.pid) == (try NamespaceKind.user.ownID()), false)
        assertSequence(fixture, "tick")
        assertNoFailures(fixture)
    }

    /// What the restore cannot make yet is refused at the dump, naming
    /// why, and the tree runs on untouched.
    func testWhatCannotBeMadeInsideAUserNamespaceIsRefused() throws {
        let sleeper = "import threading, time; threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); print('ready', flush=True); time.sleep(60)"
        for (command, mentioning) in [(["/usr/bin/unshare", "--pid", "--fork", "/usr/bin/unshare", "--user", "--map-root-user"], "threads are in user:["),
                                      (["/usr/bin/unshare", "--user", "--map-root-user", "--pid", "--fork", "/usr/bin/unshare", "--pid", "--fork"],
                                       "is not directly below crtool's PID namespace")] {
            let fixture = try start(command + ["python3", "-c", sleeper])
            defer { try? stopTree(fixture.pid) }
            try assertDumpRefused(fixture, mentioning: [mentioning], namingAnFd: false)
        }
    }

    /// A user namespace named as the owner of another that is not in the
    /// image, and a map the kernel would refuse, are named by field
    /// before anything is made.
    func testAnImageWithABadOwnerOrMapIsRefusedByField() throws {
        let fixture = try start(["/usr/bin/unshare", "--user", "--map-root-user", "--uts", "python3", script, "uts"])
        defer { try? stopTree(fixture.pid) }
        let user = try NamespaceKind.user.id(pid: fixture.pid)
        let image = try checkpoint(fixture)
        let file = NamespaceImage.listFile
        let strayOwner = try editedCopy(of: image, file: file, replacing: "\"owner\" : \(user)", with: "\"owner\" : 7")
        try assertRestoreRefused(strayOwner, pid: fixture.pid, mentioning: [file, "[1].owner", "user:[7] is not in"])
        let emptyRange = try editedCopy(of: image, file: file, replacing: "\"count\" : 1,", with: "\"count\" : 0,")
        try assertRestoreRefused(emptyRange, pid: fixture.pid, mentioning: [file, "[0].uidMap", "is no range of ids"])
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try fixture.waitForMore("tick", 3, after: mark)
        assertNoFailures(fixture)
    }
}
