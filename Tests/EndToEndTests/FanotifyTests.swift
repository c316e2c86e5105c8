import Checkpoint
import Glibc
import Ptrace
import XCTest

/// fanotify groups (fixtures/python/fanotify.py): marks on inodes, on a
/// mount and on a whole file system, an ignored mask and a group that
/// names entries (FAN_REPORT_DFID_NAME) come back with the same flags and
/// marks, and report the same events for what happens after the restore.
final class FanotifyTests: EndToEndCase {
    func testGroupsComeBackWithEveryMarkAndReportAsBefore() throws {
        let dir = try scratch.newDirectory("watched")
        let monitor = try startMonitor(dir)
        try exercise(dir, monitor, tag: "before")
        let groups = try fanotifyLines(of: monitor.pid)
        XCTAssertEqual(groups.count, 2, "two groups: \(groups)")
        XCTAssertEqual(groups.values.map(\.count).sorted(), [2, 6], "a group line and its marks: \(groups)")

        let image = try checkpoint(monitor)
        try restore(image, as: monitor)
        XCTAssertEqual(try fanotifyLines(of: monitor.pid), groups, "each group's flags and marks, in their order")
        try exercise(dir, monitor, tag: "after")
        assertSequence(monitor, "tick", startingAt: 1)
        assertNoFailures(monitor)
    }

    /// A mark on a mount is placed on the mount of the restored process's
    /// own mount namespace, not on crtool's mount at the same place: it
    /// reports closes made inside the namespace, and none made outside.
    func testAMountMarkLandsInTheProcesssOwnMountNamespace() throws {
        let dir = try scratch.newDirectory("watched")
        let python = try BuildProducts.requirePython3()
        let monitor = try startProgram("fanotify", "/usr/bin/unshare",
                                       ["--mount", "--propagation", "private", python, Self.script, dir])
        addTeardownBlock { [unowned self] in try? self.stopTree(monitor.pid) }
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: monitor.pid), try NamespaceKind.mnt.ownID())
        try assertMountMarkIsOnItsOwnRoot(monitor, "before the dump")
        try assertClosesSeenFromInsideOnly(dir, monitor, tag: "before")

        let image = try checkpoint(monitor)
        try restore(image, as: monitor)
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: monitor.pid), try NamespaceKind.mnt.ownID())
        try assertMountMarkIsOnItsOwnRoot(monitor, "after the restore")
        try assertClosesSeenFromInsideOnly(dir, monitor, tag: "after")
        assertNoFailures(monitor)
    }

    /// A group of the content class decides other processes' opens; the
    /// dump refuses it by name and the monitor carries on watching.
    func testAGroupOfThePermissionClassIsRefused() throws {
        let dir = try scratch.newDirectory("watched")
        let monitor = try startMonitor(dir, ["--content"])
        try assertDumpRefused(monitor, mentioning: ["a fanotify group of the content class", "permission events"])
        try exercise(dir, monitor, tag: "refused")
        assertNoFailures(monitor)
    }

    // MARK: -

    private static var script: String { BuildProducts.packageRoot + "/fixtures/python/fanotify.py" }

    private func startMonitor(_ dir: String, _ arguments: [String] = []) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        let monitor = try startProgram("fanotify", python, [Self.script, dir] + arguments)
        addTeardownBlock { [unowned self] in try? self.stopTree(monitor.pid) }
        try monitor.waitFor("tick", atLeast: 1)
        return monitor
    }

    /// Writes, reads and makes files in `dir`, and checks that each mark
    /// reported what it watches: the inode marks, the ignored mask on
    /// quiet, the mount and file system marks, and the named entries.
    private func exercise(_ dir: String, _ monitor: Fixture, tag: String,
                          file: StaticString = #filePath, line: UInt = #line) throws {
        let mark = monitor.lineCount
        try writeWholeFile(dir + "/watched", Array("\(tag)\n".utf8))
        XCTAssertNotNil(readWholeFile(dir + "/quiet"))
        XCTAssertNotNil(readWholeFile(dir + "/watched"))
        XCTAssertEqual(mkdir(dir + "/sub-\(tag)", 0o755), 0, errnoText())
        try writeWholeFile(dir + "/new-\(tag)", [])
        XCTAssertEqual(unlink(dir + "/new-\(tag)"), 0, errnoText())
        let expected = ["g1 open watched", "g1 modify watched", "g1 close_write watched", "g1 access watched",
                        "g1 close_nowrite watched", "g1 access quiet", "g1 close_nowrite quiet",
                        "g2 create sub-\(tag) dir", "g2 create new-\(tag)", "g2 delete new-\(tag)"]
        for event in expected {
            _ = try monitor.waitFor(line: event, from: mark)
        }
        // quiet's close came after its open, in the same queue.
        let said = monitor.log.lines().dropFirst(mark)
        XCTAssertFalse(said.contains("g1 open quiet"), "the ignored mask on quiet let its open through", file: file, line: line)
    }

    /// The monitor's fanotify descriptors, each with its fdinfo lines about
    /// the group and its marks.
    private func fanotifyLines(of pid: pid_t) throws -> [Int32: [String]] {
        var found: [Int32: [String]] = [:]
        for fd in try ProcDirectory.fileDescriptors(pid: pid) {
            guard (try? ProcFile.link("/proc/\(pid)/fd/\(fd)")) == "anon_inode:[fanotify]",
                  let info = readTextFile("/proc/\(pid)/fdinfo/\(fd)") else { continue }
            found[fd] = info.split(separator: "\n").filter { $0.hasPrefix("fanotify ") }.map(String.init)
        }
        return found
    }

    private func assertMountMarkIsOnItsOwnRoot(_ monitor: Fixture, _ when: String,
                                               file: StaticString = #filePath, line: UInt = #line) throws {
        let marked = try fanotifyLines(of: monitor.pid).values.joined().compactMap { line -> Int? in
            guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("mnt_id:") }) else { return nil }
            return Int(field.dropFirst("mnt_id:".count), radix: 16)
        }
        /// The mount on top at "/" in the mount namespace of `pid`.
        func rootMountID(of pid: pid_t) throws -> Int? {
            try MountTable.read(pid: pid).last { $0.mountPoint == "/" }?.id
        }
        let own = try XCTUnwrap(try rootMountID(of: monitor.pid))
        XCTAssertEqual(marked, [own], "the mount mark \(when), on the root mount of the monitor's namespace", file: file, line: line)
        XCTAssertNotEqual(own, try rootMountID(of: getpid()), "the namespace's root is a mount of its own", file: file, line: line)
    }

    /// A file read from crtool's namespace is seen by the file system mark
    /// (access) but not by the mount mark (close_nowrite); the same read
    /// from inside the namespace is seen by both.
    private func assertClosesSeenFromInsideOnly(_ dir: String, _ monitor: Fixture, tag: String,
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        let mark = monitor.lineCount
        XCTAssertNotNil(readWholeFile(dir + "/quiet"))
        _ = try monitor.waitFor(line: "g1 access quiet", from: mark)
        let inside = try runCommand("/usr/bin/nsenter", ["-t", "\(monitor.pid)", "-m", "cat", dir + "/watched"],
                                    outputPrefix: scratch.newPath("nsenter-\(tag)"), timeout: 10)
        XCTAssertEqual(inside.status, .exited(0), "\(inside)", file: file, line: line)
        _ = try monitor.waitFor(line: "g1 close_nowrite watched", from: mark)
        let said = monitor.log.lines().dropFirst(mark)
        XCTAssertFalse(said.contains("g1 close_nowrite quiet"), "the mount mark saw a close on crtool's mount\n\(said)", file: file, line: line)
    }
}
