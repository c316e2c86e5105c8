import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A producer and two consumers over System V shared memory, a semaphore
/// set and a message queue (fixture-sysvipc) through a dump and a restore:
/// with the objects still there, with the objects gone (made again with
/// their ids and contents), and with a segment's id taken by another one.
final class SysVIPCTests: EndToEndCase {
    /// Objects to remove after the test, whatever happened: System V
    /// objects outlive every process that used them.
    private var objects: [(SysVIPCKind, Int32)] = []

    override func tearDownWithError() throws {
        try super.tearDownWithError()
        for (kind, id) in objects { try? SysVIPC.remove(kind, id: id) }
        objects = []
    }

    func testTreeCarriesOnWithTheObjectsStillThere() throws {
        let (fixture, ids) = try startSysVFixture()
        let before = try describeObjects(ids)
        let last = try progress(fixture)
        let tree = ProcessIdentity.tree(fixture.pid)
        let image = try checkpoint(fixture)
        try waitForTree(tree)
        XCTAssertTrue(fileExists(image + "/sysv-ipc.json"), "the image lists the objects: \(ImageFiles(directory: image, pid: fixture.pid).names())")
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        try assertCarriesOn(fixture, from: mark, after: last)
        XCTAssertEqual(try describeObjects(ids), before, "the same objects, untouched")
        assertNoFailures(fixture)
    }

    func testObjectsAreMadeAgainWithTheirIdsAndContents() throws {
        let (fixture, ids) = try startSysVFixture()
        let before = try describeObjects(ids)
        let last = try progress(fixture)
        let tree = ProcessIdentity.tree(fixture.pid)
        let image = try checkpoint(fixture)
        try waitForTree(tree)
        for (kind, id) in ids.all { try SysVIPC.remove(kind, id: id) }
        XCTAssertTrue(try SysVIPC.list(.sharedMemory).allSatisfy { $0.id != ids.shm }, "the segment is gone before the restore")
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        XCTAssertEqual(try describeObjects(ids), before, "made again with their ids, keys, modes and sizes")
        try assertCarriesOn(fixture, from: mark, after: last)
        assertNoFailures(fixture)
    }

    func testRestoreFailsWhenTheSegmentIdIsTaken() throws {
        let (fixture, ids) = try startSysVFixture()
        _ = try progress(fixture)
        let tree = ProcessIdentity.tree(fixture.pid)
        let image = try checkpoint(fixture)
        try waitForTree(tree)
        for (kind, id) in ids.all { try SysVIPC.remove(kind, id: id) }
        try SysVIPC.setNextID(.sharedMemory, ids.shm)
        let intruder = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600)
        XCTAssertGreaterThanOrEqual(intruder, 0, "shmget: \(String(cString: strerror(errno)))")
        if intruder >= 0 { objects.append((.sharedMemory, intruder)) }
        XCTAssertEqual(intruder, ids.shm, "the other segment took the id")

        let check = try crtool(["restore", "-D", image, "--check-only"])
        XCTAssertFalse(check.succeeded, "\(check)")
        XCTAssertTrue(check.stderr.contains("System V shared memory segment \(ids.shm)"), "the check names the segment's id: \(check)")

        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("System V shared memory segment \(ids.shm)"), "the message names the segment's id: \(result)")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
        XCTAssertFalse(try SysVIPC.list(.semaphores).contains { $0.id == ids.sem }, "nothing was made before the failure")
        XCTAssertFalse(try SysVIPC.list(.messageQueue).contains { $0.id == ids.msg }, "nothing was made before the failure")
        XCTAssertEqual(try SysVIPC.list(.sharedMemory).first { $0.id == ids.shm }?.key, 0, "the other segment is untouched")
    }

    /// In an IPC namespace of the tree's own, which goes with the tree,
    /// every object is saved (in namespaces.json) and made again inside
    /// the namespace the restore makes, with its ids and contents;
    /// crtool's own namespace is left as it was.
    func testObjectsOfTheTreesOwnIPCNamespaceAreMadeAgainInIt() throws {
        let host = { try [SysVIPCKind.sharedMemory, .semaphores, .messageQueue].map { try SysVIPC.list($0).map(\.id).sorted() } }
        let hostBefore = try host()
        let (fixture, ids) = try startSysVFixture(under: ["/usr/bin/unshare", "--ipc"])
        XCTAssertNotEqual(try NamespaceKind.ipc.id(pid: fixture.pid), try NamespaceKind.ipc.ownID())
        let inside = { try NamespaceEntry.run(in: .ipc, of: fixture.pid) { try self.describeObjects(ids) } }
        let before = try inside()
        XCTAssertFalse(before.contains { $0.hasSuffix("missing") }, "\(before)")
        let last = try progress(fixture)
        let tree = ProcessIdentity.tree(fixture.pid)
        let image = try checkpoint(fixture)
        try waitForTree(tree)
        XCTAssertEqual(try ImageDirectory.open(at: image).manifest.formatVersion, Manifest.namespaceSysVIPCFormatVersion)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("System V objects made again: 1 shared memory segment (id \(ids.shm)), "
            + "1 semaphore set (id \(ids.sem)), 1 message queue (id \(ids.msg))"), shown.stdout)

        let mark = fixture.lineCount
        try restore(image, as: fixture)
        XCTAssertNotEqual(try NamespaceKind.ipc.id(pid: fixture.pid), try NamespaceKind.ipc.ownID(), "restored into crtool's IPC namespace")
        XCTAssertEqual(try inside(), before, "made again in the new namespace with their ids, keys, modes and sizes")
        try assertCarriesOn(fixture, from: mark, after: last)
        XCTAssertEqual(try host(), hostBefore, "crtool's IPC namespace gained or lost objects")
        assertNoFailures(fixture)
    }

    // MARK: - Helpers

    private struct IDs {
        var shm: Int32
        var sem: Int32
        var msg: Int32
        var all: [(SysVIPCKind, Int32)] { [(.sharedMemory, shm), (.semaphores, sem), (.messageQueue, msg)] }
    }

    /// `wrapper`: a command that runs it in an IPC namespace of its own,
    /// whose objects go with it and are not removed by the test.
    private func startSysVFixture(under wrapper: [String] = []) throws -> (Fixture, IDs) {
        let dir = try scratch.newDirectory("keys")
        let fixture = try startFixture("sysvipc", [dir], under: wrapper)
        let line = try XCTUnwrap(fixture.log.lines().first { $0.hasPrefix("ipc ") }, "the fixture names its objects")
        let f = line.split(separator: " ")
        guard f.count == 7, let shm = Int32(f[2]), let sem = Int32(f[4]), let msg = Int32(f[6]) else {
            throw HarnessError("cannot read the ids in \"\(line)\"")
        }
        let ids = IDs(shm: shm, sem: sem, msg: msg)
        if wrapper.isEmpty { objects += ids.all }
        return (fixture, ids)
    }

    private struct Progress {
        var produced: Int
        var received: Int
    }

    /// Waits until messages are queued and every role made progress.
    private func progress(_ fixture: Fixture) throws -> Progress {
        try fixture.waitFor("received", atLeast: 50)
        for i in 0..<2 { try fixture.waitFor("consumer \(i) at", atLeast: 50) }
        try fixture.waitFor("pattern ok", atLeast: 1)
        try fixture.waitFor("more than 20 messages queued") {
            $0.hasPrefix("produced ") && ($0.split(separator: " ").last.flatMap { Int($0) } ?? 0) > 20
        }
        return Progress(produced: try XCTUnwrap(fixture.numbers("produced").last),
                        received: try XCTUnwrap(fixture.numbers("received").last))
    }

    /// The dump killed the whole tree: the consumers, orphaned to this
    /// process, are reaped so that their pids are free for the restore.
    private func waitForTree(_ tree: [ProcessIdentity]) throws {
        XCTAssertEqual(tree.count, 3, "producer and two consumers: \(tree)")
        for p in tree {
            if ProcessTable.stat(p.pid)?.ppid == getpid() { _ = try? waitForExit(p.pid, timeout: 5) }
            try waitUntilFree(p.pid)
        }
    }

    private func assertCarriesOn(_ fixture: Fixture, from mark: Int, after last: Progress,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        try fixture.waitFor("produced", atLeast: last.produced + 150, from: mark)
        try fixture.waitFor("received", atLeast: last.received + 75, from: mark)
        for i in 0..<2 { try fixture.waitFor("consumer \(i) at", atLeast: 0, from: mark) }
        try fixture.waitFor("pattern ok", atLeast: 0, from: mark)
        let produced = fixture.numbers("produced")
        for (a, b) in zip(produced, produced.dropFirst()) where b != a + 50 {
            XCTFail("produced \(a) is followed by produced \(b)", file: file, line: line)
        }
        let received = fixture.numbers("received")
        for (a, b) in zip(received, received.dropFirst()) where b != a + 25 {
            XCTFail("received \(a) is followed by received \(b)", file: file, line: line)
        }
        for i in 0..<2 {
            let seen = fixture.numbers("consumer \(i) at")
            for (a, b) in zip(seen, seen.dropFirst()) where b <= a {
                XCTFail("consumer \(i) at \(a) is followed by \(b)", file: file, line: line)
            }
        }
    }

    /// key, id, perms and size (nsems for a set) of the three objects, as
    /// /proc/sysvipc shows them.
    private func describeObjects(_ ids: IDs) throws -> [String] {
        func row(_ kind: String, _ id: Int32, _ columns: [Int]) throws -> String {
            let text = try XCTUnwrap(readTextFile("/proc/sysvipc/\(kind)"))
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")
                if f.count > 3, f[1] == "\(id)" { return "\(kind) " + columns.map { String(f[$0]) }.joined(separator: " ") }
            }
            return "\(kind) \(id) missing"
        }
        return [try row("shm", ids.shm, [0, 1, 2, 3]), try row("sem", ids.sem, [0, 1, 2, 3]), try row("msg", ids.msg, [0, 1, 2])]
    }
}
