import Glibc
import XCTest

/// Dropped ids, a reduced capability set, no_new_privs and a seccomp
/// filter all come back: the fixture checks them every tick, and the
/// kernel's own view agrees.
final class ConfinedTests: EndToEndCase {
    func testCredentialsCapabilitiesAndSeccompFilterSurviveRestore() throws {
        let confined = try startFixture("confined", [])
        try confined.waitFor("tick", atLeast: 3)
        let statusBefore = try XCTUnwrap(readTextFile("/proc/\(confined.pid)/status"))
        let (_, mark) = try roundTrip(confined)
        let last = try XCTUnwrap(confined.numbers("tick", before: mark).last)
        try confined.waitFor("tick", atLeast: last + 5, from: mark)
        let statusAfter = try XCTUnwrap(readTextFile("/proc/\(confined.pid)/status"))
        for field in ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"] {
            XCTAssertEqual(line(field, statusAfter), line(field, statusBefore), field)
        }
        XCTAssertEqual(line("Seccomp", statusAfter), "Seccomp:\t2")
        try killAndReap(confined.pid)
        assertNoFailures(confined)
    }

    private func line(_ field: String, _ status: String) -> String? {
        status.split(separator: "\n").first { $0.hasPrefix(field + ":") }.map(String.init)
    }
}
