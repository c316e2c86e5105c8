@testable import Checkpoint
import Foundation
import XCTest

/// `restore --ext-mount-map` and `--external mnt[]`: the forms they take,
/// and which binds they change.
final class MountSourceChangeTests: XCTestCase {
    func testBothOfCriusFormsAreTakenWithAbsolutePaths() {
        XCTAssertEqual(MountSourceChange("/data:/srv/new"), MountSourceChange(mountPoint: "/data", path: "/srv/new"))
        XCTAssertEqual(MountSourceChange("mnt[/etc/hosts]:/run/c2/hosts"), MountSourceChange(mountPoint: "/etc/hosts", path: "/run/c2/hosts"))
        XCTAssertEqual(MountSourceChange("//data/./x/:/a:b"), MountSourceChange(mountPoint: "/data/x", path: "/a:b"), "the mount point as mountinfo writes it")
        for bad in ["data:/x", "/data:x", "/data", "mnt[/data]/x", "mnt[/data:/x", "mnt[data]:/x", ""] {
            XCTAssertNil(MountSourceChange(bad), bad)
        }
    }

    func testEveryNamespaceBindingTheMountPointFromCrtoolsTakesThePathGiven() throws {
        var first = NamespaceImage(kind: .mnt, id: 1)
        first.mounts = [
            SavedMount.testingBind("/", parent: nil, from: "/old"), SavedMount.testingBind("/data", parent: 0, from: "/volumes/a"),
            SavedMount.testingBind("/copy", parent: 0, from: "/data", inNamespace: true),
        ]
        var second = NamespaceImage(kind: .mnt, id: 2)
        second.mounts = [SavedMount.testingBind("/", parent: nil, from: "/old"), SavedMount.testingBind("/data", parent: 0, from: "/volumes/a")]
        var root = ProcessImage.testing(pid: 10)
        root.namespaces = NamespaceMembership(mnt: 1)
        var plan = RestorePlan(processes: [root], zombies: [], sharedMemory: [], namespaces: [first, second])
        let given = FileSystem.canonical(NSTemporaryDirectory())
        try MountSourceChange.apply([MountSourceChange(mountPoint: "/data", path: given)], to: &plan)
        XCTAssertEqual(plan.namespaces.map { $0.mounts!.map(\.bindSource) }, [["/old", given, "/data"], ["/old", given]])
        XCTAssertEqual(plan.hostPaths.of("/data/x", pid: 10), MountedPath.join(given, "x"))

        func refusal(_ change: MountSourceChange) -> String {
            do {
                try MountSourceChange.apply([change], to: &plan)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(refusal(MountSourceChange(mountPoint: "/copy", path: given)).contains("binds a file or directory of crtool's at /copy (it binds /data)"))
        XCTAssertTrue(refusal(MountSourceChange(mountPoint: "/", path: given)).contains("the root is given with --root"))
        XCTAssertTrue(refusal(MountSourceChange(mountPoint: "/data", path: given + "/crtool-none-\(getpid())")).contains("cannot be found"))
    }
}
