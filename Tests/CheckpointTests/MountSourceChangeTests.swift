@testable import Checkpoint
import Foundation
import XCTest

/// `restore --ext-mount-map` and `--external mnt[]`: the forms they take,
/// and which binds they change.
final class MountSourceChangeTests: XCTestCase {
    func testBothOfCriusFormsAreTakenWithAnAbsolutePath() {
        XCTAssertEqual(MountSourceChange("/data:/srv/new"), MountSourceChange(key: "/data", path: "/srv/new"))
        XCTAssertEqual(MountSourceChange("mnt[/etc/hosts]:/run/c2/hosts"), MountSourceChange(key: "/etc/hosts", path: "/run/c2/hosts"))
        XCTAssertEqual(MountSourceChange("//data/./x/:/a:b"), MountSourceChange(key: "/data/x", path: "/a:b"), "the mount point as mountinfo writes it")
        XCTAssertEqual(MountSourceChange("data:/srv/new"), MountSourceChange(key: "data", path: "/srv/new"), "a key given at the dump")
        XCTAssertEqual(MountSourceChange("mnt[data]:/srv/new"), MountSourceChange(key: "data", path: "/srv/new"))
        for bad in ["/data:x", "/data", "mnt[/data]/x", "mnt[/data:/x", ":/x", "mnt[]:/x", "/data:", ""] {
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
        try MountSourceChange.apply([MountSourceChange(key: "/data", path: given)], to: &plan)
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
        XCTAssertTrue(refusal(MountSourceChange(key: "/copy", path: given)).contains("binds a file or directory of crtool's at /copy (it binds /data)"))
        XCTAssertTrue(refusal(MountSourceChange(key: "/", path: given)).contains("the root is given with --root"))
        XCTAssertTrue(refusal(MountSourceChange(key: "/data", path: given + "/crtool-none-\(getpid())")).contains("cannot be found"))
    }

    func testAMountLeftOutAtTheDumpIsKeyedAndMustBeGiven() throws {
        XCTAssertEqual(ExternalMounts.LeftOut("mnt[/etc/hosts]:hosts")?.key, "hosts")
        XCTAssertEqual(ExternalMounts.LeftOut("/etc/hosts:/etc/hosts")?.mountPoint, "/etc/hosts", "runc's form")
        XCTAssertNil(ExternalMounts.LeftOut("mnt[etc]:hosts"), "a mount point is absolute")
        XCTAssertTrue(ExternalMounts.isAutomatic("auto") && ExternalMounts.isAutomatic("mnt[]"))

        var namespace = NamespaceImage(kind: .mnt, id: 1)
        namespace.mounts = [SavedMount.testingBind("/", parent: nil, from: "/old"), SavedMount.testingBind("/data", parent: 0, from: "/volumes/a"),
                            SavedMount.testingBind("/copy", parent: 0, from: "/data", inNamespace: true)]
        var namespaces = [namespace]
        XCTAssertThrowsError(try ExternalMounts.mark(&namespaces, leftOut: [ExternalMounts.LeftOut("mnt[/copy]:c")!])) { error in
            XCTAssertTrue("\(error)".contains("no mount namespace of the tree binds a file or directory of crtool's there (it binds /data)"), "\(error)")
        }
        try ExternalMounts.mark(&namespaces, leftOut: [ExternalMounts.LeftOut("mnt[/data]:volume")!])
        XCTAssertEqual(namespaces[0].mounts?.map(\.externalKey), [nil, "volume", nil])

        var plan = RestorePlan(processes: [ProcessImage.testing(pid: 10)], zombies: [], sharedMemory: [], namespaces: namespaces)
        XCTAssertThrowsError(try MountSourceChange.apply([], to: &plan)) { error in
            XCTAssertTrue("\(error)".contains("bound at /data, left out at the dump as volume: give its place here with --ext-mount-map volume:PATH"), "\(error)")
        }
        let given = FileSystem.canonical(NSTemporaryDirectory())
        for key in ["volume", "/data"] {
            var copy = plan
            try MountSourceChange.apply([MountSourceChange(key: key, path: given)], to: &copy)
            XCTAssertEqual(copy.namespaces[0].mounts?[1].bindSource, given, "given by its key or its mount point")
        }
    }
}
