import Foundation
import Glibc
import Ptrace
import XCTest

/// A cgroup a test made below its own, in one hierarchy.
struct TestCgroup {
    var membership: CgroupMembership
    var directory: String
    /// The hierarchy's name as `crtool show` gives it: its controllers, or
    /// "unified".
    var name: String { membership.hierarchyName }

    /// A program for `startFixture(under:)` that moves itself into this
    /// cgroup and execs the fixture, so that all the fixture's memory is
    /// charged here from its first page.
    var wrapper: [String] { ["/bin/sh", "-c", "echo $$ > '\(directory)/cgroup.procs' && exec \"$0\" \"$@\""] }
}

extension EndToEndCase {
    /// A new cgroup below this process's own in the hierarchy of `own`
    /// (one of this process's memberships), or nil when root cannot make
    /// one there. When the test ends, the cgroup is thawed, every process
    /// in it is killed and reaped, and it is removed.
    func makeCgroup(below own: CgroupMembership, label: String = "", mounts: [MountEntry]) -> TestCgroup? {
        let child = CgroupMembership(controllers: own.controllers, path: (own.path == "/" ? "" : own.path) + "/crtool-test-\(getpid())\(label)")
        guard let directory = child.directory(in: mounts), mkdir(directory, 0o755) == 0 else { return nil }
        addTeardownBlock { [unowned self] in self.removeCgroup(directory) }
        return TestCgroup(membership: child, directory: directory)
    }

    /// Thaws `directory`, kills and reaps every process in it, and removes
    /// it, the cgroups below it first (a restore made them there).
    func removeCgroup(_ directory: String) {
        let below = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in below where FileManager.default.fileExists(atPath: "\(directory)/\(name)/cgroup.procs") {
            removeCgroup("\(directory)/\(name)")
        }
        if let freezer = try? CgroupFreezer(directory: directory) { try? freezer.thaw() }
        let pids = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8))?.split(separator: "\n").compactMap { pid_t($0) } ?? []
        for pid in pids { try? killAndReap(pid) }
        _ = poll(timeout: 5) { rmdir(directory) == 0 || errno == ENOENT }
    }

    /// A new cgroup in the first of this process's hierarchies that
    /// `matching` accepts and lets root make one in.
    func makeCgroup(label: String = "", where matching: (CgroupMembership) -> Bool) throws -> TestCgroup {
        let mounts = try MountTable.read(pid: getpid())
        for own in try CgroupMembership.read(pid: getpid()) where matching(own) {
            if let made = makeCgroup(below: own, label: label, mounts: mounts) { return made }
        }
        throw HarnessError("no cgroup hierarchy here that the test needs lets root make a cgroup")
    }

    /// The bytes a v1 memory cgroup's file (memory.usage_in_bytes) counts.
    func chargedBytes(_ path: String) throws -> Int {
        guard let text = readTextFile(path), let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("cannot read \(path)")
        }
        return bytes
    }

    func join(_ pid: pid_t, _ directory: String) throws {
        let text = Array("\(pid)\n".utf8)
        let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        guard fd >= 0, write(fd, text, text.count) == text.count else { throw HarnessError("joining \(directory): \(errnoText())") }
    }
}
