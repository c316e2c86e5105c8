import Foundation
import Glibc
import Ptrace
import XCTest

/// A restored process goes back into the cgroups it was in (its limits
/// and its service manager's view go with them); one that no longer
/// exists is not made up: the process stays in crtool's, with a warning.
final class CgroupTests: EndToEndCase {
    func testProcessReturnsToItsCgroups() throws {
        let made = try makeCgroups()
        addTeardownBlock { for m in made { rmdir(m.directory) } }
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        // Runs before the rmdir above (teardown blocks run last first): a
        // cgroup with a process in it cannot be removed.
        addTeardownBlock { [unowned self] in try? self.killAndReap(counter.pid) }
        let checksum = try heapChecksum(counter)
        for m in made { try join(counter.pid, m.directory) }
        XCTAssertEqual(try memberships(counter.pid, made), made.map(\.membership))

        let (shown, mark) = try roundTrip(counter)
        XCTAssertEqual(try memberships(counter.pid, made), made.map(\.membership), "cgroups after the restore")
        let show = try crtool(["show", shown])
        for m in made {
            XCTAssertTrue(show.stdout.contains("\(m.name):\(m.membership.path)"), "show should list \(m.name):\(m.membership.path): \(show)")
        }
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)

        // Gone by the time of the next restore: a warning, crtool's cgroup.
        let image = try checkpoint(counter)
        for m in made { XCTAssertEqual(rmdir(m.directory), 0, "rmdir \(m.directory): \(errnoText())") }
        // The check warns of it as the restore does, before it.
        let check = try crtool(["restore", "-D", image, "--check-only"])
        let result = try crtool(["restore", "-D", image, "-d"])
        for run in [check, result] {
            XCTAssertTrue(run.succeeded, "\(run)")
            for m in made {
                XCTAssertTrue(run.stderr.contains("warning: pid \(counter.pid) was in \(m.name) cgroup \(m.membership.path), which does not exist here"), "\(run)")
            }
        }
        let own = try CgroupMembership.read(pid: getpid())
        XCTAssertEqual(try memberships(counter.pid, made), made.map { m in own.first { $0.controllers == m.membership.controllers }! })
        assertNoFailures(counter)
    }

    // MARK: -

    private struct Made {
        var membership: CgroupMembership
        var directory: String
        var name: String { membership.controllers.isEmpty ? "unified" : membership.controllers }
    }

    /// A new cgroup below this process's own in every hierarchy that lets
    /// root make one (not cpuset, whose new cgroups have no CPUs to join).
    private func makeCgroups() throws -> [Made] {
        let mounts = try MountTable.read(pid: getpid())
        var made: [Made] = []
        for own in try CgroupMembership.read(pid: getpid()) where !own.controllers.contains("cpuset") {
            let child = CgroupMembership(controllers: own.controllers, path: (own.path == "/" ? "" : own.path) + "/crtool-test-\(getpid())")
            guard let directory = child.directory(in: mounts), mkdir(directory, 0o755) == 0 else { continue }
            made.append(Made(membership: child, directory: directory))
        }
        guard !made.isEmpty else { throw HarnessError("no cgroup hierarchy here lets root make a cgroup") }
        return made
    }

    private func join(_ pid: pid_t, _ directory: String) throws {
        let text = Array("\(pid)\n".utf8)
        let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        guard fd >= 0, write(fd, text, text.count) == text.count else { throw HarnessError("joining \(directory): \(errnoText())") }
    }

    private func memberships(_ pid: pid_t, _ made: [Made]) throws -> [CgroupMembership] {
        let all = try CgroupMembership.read(pid: pid)
        return made.map { m in all.first { $0.controllers == m.membership.controllers } ?? CgroupMembership(controllers: m.membership.controllers, path: "?") }
    }
}
