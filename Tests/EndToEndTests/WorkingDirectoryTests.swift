import Foundation
import Glibc
import XCTest

/// Where a process stands comes back with it: a root changed by chroot,
/// and a working directory deleted under it, which is made again, entered
/// and deleted again, so the process stands in a deleted directory of the
/// same name. Both used to be dumped (killing the process) and then
/// refused by the restore.
final class WorkingDirectoryTests: EndToEndCase {
    func testChrootedProcessKeepsItsRootAndDirectory() throws {
        let (fixture, dir) = try startPlaces(["--chroot"])
        let (_, mark) = try roundTrip(fixture)
        XCTAssertEqual(try link(fixture.pid, "root"), dir)
        XCTAssertEqual(try link(fixture.pid, "cwd"), dir + "/work")
        try assertTicksGoOn(fixture, from: mark)
    }

    func testDeletedWorkingDirectoryIsDeletedAgain() throws {
        let (fixture, dir) = try startPlaces(["--delete-cwd"])
        for _ in 1...2 {
            let (_, mark) = try roundTrip(fixture)
            XCTAssertEqual(try link(fixture.pid, "cwd"), dir + "/work (deleted)")
            XCTAssertFalse(fileExists(dir + "/work"), "the directory made for the restore must be gone again")
            try assertTicksGoOn(fixture, from: mark)
        }
    }

    func testDeletedWorkingDirectoryInsideAChroot() throws {
        let (fixture, dir) = try startPlaces(["--chroot", "--delete-cwd"])
        let (_, mark) = try roundTrip(fixture)
        XCTAssertEqual(try link(fixture.pid, "root"), dir)
        XCTAssertEqual(try link(fixture.pid, "cwd"), dir + "/work (deleted)")
        XCTAssertFalse(fileExists(dir + "/work"))
        try assertTicksGoOn(fixture, from: mark)
    }

    /// The deleted directory's path was taken again before the restore:
    /// what is there is left alone, the process gets a deleted directory
    /// of the same name elsewhere, and the restore says so.
    func testTakenPathIsLeftAloneAndReported() throws {
        let (fixture, dir) = try startPlaces(["--delete-cwd"])
        let image = try checkpoint(fixture)
        XCTAssertEqual(mkdir(dir + "/work", 0o755), 0, errnoText())
        try writeWholeFile(dir + "/work/keep", Array("someone else's\n".utf8))

        let mark = fixture.lineCount
        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("warning: pid \(fixture.pid) worked in "), "\(result)")
        XCTAssertTrue(result.stderr.contains("work, deleted"), "\(result)")
        XCTAssertEqual(readTextFile(dir + "/work/keep"), "someone else's\n", "the restore touched the directory now at the path")
        let cwd = try link(fixture.pid, "cwd")
        XCTAssertTrue(cwd.hasPrefix("/tmp/crtool-cwd-") && cwd.hasSuffix("/work (deleted)"), cwd)
        let parent = (String(cwd.dropLast(" (deleted)".count)) as NSString).deletingLastPathComponent
        XCTAssertFalse(fileExists(parent), "the temporary parent \(parent) must be removed")
        try assertTicksGoOn(fixture, from: mark)
    }

    /// The directory the process worked in was removed after the dump: the
    /// restore would fail entering it once the process exists. It is named
    /// before anything is made, by the restore and by the check alike, and
    /// the restore goes ahead once the directory is back.
    func testARemovedWorkingDirectoryIsNamedBeforeAnythingIsMade() throws {
        let (fixture, dir) = try startPlaces([])
        let image = try checkpoint(fixture)
        XCTAssertEqual(rmdir(dir + "/work"), 0, errnoText())
        try assertRestoreRefused(image, pid: fixture.pid, mentioning: [
            "\(dir)/work (the working directory of pid \(fixture.pid)): No such file or directory (ENOENT)",
        ])

        XCTAssertEqual(mkdir(dir + "/work", 0o755), 0, errnoText())
        let mark = fixture.lineCount
        try restore(image, as: fixture)
        XCTAssertEqual(try link(fixture.pid, "cwd"), dir + "/work")
        try assertTicksGoOn(fixture, from: mark)
    }

    // MARK: -

    /// The fixture, standing in `dir`/work, with `dir` as the kernel spells
    /// it (no doubled slashes), as /proc shows paths.
    private func startPlaces(_ options: [String]) throws -> (Fixture, String) {
        let made = try scratch.newDirectory("places")
        guard let resolved = realpath(made, nil) else { throw HarnessError("realpath \(made): \(errnoText())") }
        let dir = String(cString: resolved)
        free(resolved)
        let fixture = try startFixture("places", [dir] + options)
        try fixture.waitFor("tick", atLeast: 3)
        return (fixture, dir)
    }

    private func link(_ pid: pid_t, _ name: String) throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/\(name)")
    }

    private func assertTicksGoOn(_ fixture: Fixture, from mark: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try fixture.waitForMore("tick", 10, after: mark)
        assertSequence(fixture, "tick", startingAt: 1, file: file, line: line)
        assertNoFailures(fixture, file: file, line: line)
    }
}
