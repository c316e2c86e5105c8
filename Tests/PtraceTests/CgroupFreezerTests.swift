import Glibc
import Ptrace
import XCTest

/// Freezing and thawing real cgroups of both versions, with a busy
/// process in them whose CPU time shows whether it runs.
final class CgroupFreezerTests: XCTestCase {
    func testFreezesAndThawsAUnifiedCgroup() throws {
        try exercise(.v2)
    }

    func testFreezesAndThawsAVersion1FreezerCgroup() throws {
        try exercise(.v1)
    }

    func testACgroupFrozenAboveIsToldApartFromOneFrozenItself() throws {
        for version in [CgroupFreezer.Version.v2, .v1] {
            let parent = try makeCgroup(version, name: "above")
            let child = try makeCgroup(version, name: "above/below")
            XCTAssertEqual(child.parent, parent, "\(version)")
            let busy = try startBusy(in: child.directory)
            try parent.freeze(within: 5)
            try waitUntil("\(version) child frozen from above") { try child.isFrozenFromAbove() }
            XCTAssertFalse(try child.isFrozen(), "\(version): frozen by its parent, not by itself")
            XCTAssertTrue(try parent.isFrozen(), "\(version)")
            XCTAssertFalse(try parent.isFrozenFromAbove(), "\(version)")
            try assertStill(busy, "\(version) child of a frozen cgroup")
            try parent.thaw()
            try waitUntil("\(version) child thawed") { try !child.isFrozenFromAbove() }
            try assertRuns(busy, "\(version) child of a thawed cgroup")
        }
    }

    func testTheRootAndOrdinaryDirectoriesAreRefusedByName() throws {
        let root = try mountPoint(.v2)
        XCTAssertThrowsError(try CgroupFreezer(directory: root)) { error in
            XCTAssertTrue("\(error)".contains("find cgroup.freeze or freezer.state in \(root)"), "\(error)")
        }
        XCTAssertThrowsError(try CgroupFreezer(directory: "/tmp")) { error in
            XCTAssertTrue("\(error)".contains("in /tmp"), "\(error)")
        }
        XCTAssertThrowsError(try CgroupFreezer(directory: "/nonexistent/cgroup")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/cgroup") && "\(error)".contains("ENOENT"), "\(error)")
        }
    }

    // MARK: -

    private let children = Children()

    override func tearDown() {
        children.killAll()
        super.tearDown()
    }

    private func exercise(_ version: CgroupFreezer.Version) throws {
        let made = try makeCgroup(version, name: "plain")
        let freezer = try CgroupFreezer(directory: made.directory)
        XCTAssertEqual(freezer.version, version)
        let busy = try startBusy(in: made.directory)
        let mounts = try MountTable.read(pid: getpid())
        XCTAssertTrue(try freezer.holds(busy, mounts: mounts))
        XCTAssertFalse(try freezer.holds(getpid(), mounts: mounts))
        XCTAssertTrue(CgroupFreezer.freezers(of: try CgroupMembership.read(pid: busy), mounts: mounts).contains(freezer))
        XCTAssertFalse(try freezer.isFrozen())

        try freezer.freeze(within: 5)
        XCTAssertTrue(try freezer.isFrozen())
        try assertStill(busy, "\(version) frozen")
        // Freezing a frozen cgroup returns at once.
        try freezer.freeze(within: 5)

        try freezer.thaw()
        XCTAssertFalse(try freezer.isFrozen())
        try assertRuns(busy, "\(version) thawed")
    }

    /// A cgroup below this process's own in the hierarchy of `version`,
    /// removed when the test ends (after its processes are killed).
    private func makeCgroup(_ version: CgroupFreezer.Version, name: String) throws -> CgroupFreezer {
        let mounts = try MountTable.read(pid: getpid())
        let own = try CgroupMembership.read(pid: getpid()).first { m in
            version == .v2 ? m.controllers.isEmpty : m.controllers.split(separator: ",").contains("freezer")
        }
        guard let own, let base = own.directory(in: mounts) else {
            throw Expectation(description: "no \(version) freezer hierarchy is mounted here")
        }
        let directory = base + "/crtool-freezer-\(getpid())-\(name)"
        guard mkdir(directory, 0o755) == 0 else { throw Expectation(description: "mkdir \(directory): errno \(errno)") }
        addTeardownBlock { [children] in
            children.killAll()
            rmdir(directory)
        }
        return try CgroupFreezer(directory: directory)
    }

    private func mountPoint(_ version: CgroupFreezer.Version) throws -> String {
        let mounts = try MountTable.read(pid: getpid())
        guard let m = mounts.first(where: { version == .v2 ? $0.fsType == "cgroup2" : $0.superOptions.contains("freezer") }) else {
            throw Expectation(description: "no \(version) hierarchy is mounted here")
        }
        return m.mountPoint
    }

    /// A shell spinning on the CPU, moved into `directory`.
    private func startBusy(in directory: String) throws -> pid_t {
        let pid = try spawn("/bin/sh", ["-c", "while :; do :; done"], into: children)
        let text = Array("\(pid)\n".utf8)
        let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        try require(fd >= 0 && write(fd, text, text.count) == text.count, "joining \(directory): errno \(errno)")
        return pid
    }

    private func cpuTicks(_ pid: pid_t) throws -> Int {
        guard let user = rawStatField(pid, 14).flatMap(Int.init), let system = rawStatField(pid, 15).flatMap(Int.init) else {
            throw Expectation(description: "no CPU times for \(pid)")
        }
        return user + system
    }

    private func assertStill(_ pid: pid_t, _ what: String) throws {
        let before = try cpuTicks(pid)
        usleep(300_000)
        XCTAssertEqual(try cpuTicks(pid), before, "\(what): the busy process used CPU time")
    }

    private func assertRuns(_ pid: pid_t, _ what: String) throws {
        let before = try cpuTicks(pid)
        try waitUntil("\(what): the busy process uses CPU time", timeout: 5) { try cpuTicks(pid) > before }
    }
}
