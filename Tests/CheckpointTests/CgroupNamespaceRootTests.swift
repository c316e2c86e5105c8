@testable import Checkpoint
import XCTest

/// Where a cgroup namespace is rooted, from a cgroup's path as crtool's
/// namespace names it and as the process's own namespace does.
final class CgroupNamespaceRootTests: XCTestCase {
    func testTheRootIsWhatTheFullPathHasBeyondTheSeenOne() {
        XCTAssertEqual(CgroupNamespaceDumper.root(of: "/box", seen: "/"), "/box")
        XCTAssertEqual(CgroupNamespaceDumper.root(of: "/", seen: "/"), "/")
        XCTAssertEqual(CgroupNamespaceDumper.root(of: "/system.slice/box/app", seen: "/app"), "/system.slice/box")
        XCTAssertEqual(CgroupNamespaceDumper.root(of: "/app", seen: "/app"), "/")
    }

    func testAPathOutsideTheRootOrNotItsEndTellsNothing() {
        XCTAssertNil(CgroupNamespaceDumper.root(of: "/other", seen: "/../other"), "a process moved out of the namespace's root")
        XCTAssertNil(CgroupNamespaceDumper.root(of: "/box/app", seen: "/web"))
        XCTAssertNil(CgroupNamespaceDumper.root(of: "/boxapp", seen: "/app"), "only whole components")
    }
}
