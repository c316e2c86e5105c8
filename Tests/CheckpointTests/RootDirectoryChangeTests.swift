@testable import Checkpoint
import Foundation
import XCTest

/// `restore --root`: which mounts it moves, and which trees it refuses.
final class RootDirectoryChangeTests: XCTestCase {
    private func plan(rootedAt mounts: [SavedMount]) -> RestorePlan {
        var root = ProcessImage.testing(pid: 10)
        root.namespaces = NamespaceMembership(mnt: 5)
        var namespace = NamespaceImage(kind: .mnt, id: 5)
        namespace.mounts = mounts
        return RestorePlan(processes: [root], zombies: [], sharedMemory: [], namespaces: [namespace])
    }

    func testTheRootAndWhatWasBoundFromBelowItMove() throws {
        let given = NSTemporaryDirectory() + "crtool-root-\(getpid())"
        try FileManager.default.createDirectory(atPath: given, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: given) }
        var plan = plan(rootedAt: [
            SavedMount.testingBind("/", parent: nil, from: "/var/lib/old/merged"),
            SavedMount.testingBind("/data", parent: 0, from: "/var/lib/old/merged/srv/data"),
            SavedMount.testingBind("/usr", parent: 0, from: "/usr"),
            SavedMount.testingBind("/copy", parent: 0, from: "/data", inNamespace: true),
        ])
        try RootDirectoryChange.apply(given, to: &plan)
        let moved = FileSystem.canonical(given)
        XCTAssertEqual(plan.namespaces[0].mounts?.map(\.bindSource), [moved, moved + "/srv/data", "/usr", "/data"])
        XCTAssertEqual(plan.hostPaths.of("/etc/hosts", pid: 10), moved + "/etc/hosts", "the tree's paths are looked for in the new root")
    }

    func testATreeWithoutABoundRootOrADirectoryThatIsNotOneIsRefused() throws {
        var notBound = plan(rootedAt: [SavedMount(mountPoint: "/", parent: nil, origin: .host, fsType: "ext4", source: "/dev/vda", root: "/",
                                                  flags: [], propagation: [])])
        XCTAssertThrowsError(try RootDirectoryChange.apply("/tmp", to: &notBound)) { error in
            XCTAssertTrue("\(error)".contains("the tree's root was not a directory bound in and entered with pivot_root"), "\(error)")
        }
        var bound = plan(rootedAt: [SavedMount.testingBind("/", parent: nil, from: "/var/lib/old/merged")])
        let file = NSTemporaryDirectory() + "crtool-root-file-\(getpid())"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertThrowsError(try RootDirectoryChange.apply(file, to: &bound)) { error in
            XCTAssertTrue("\(error)".contains("--root \(file): not a directory"), "\(error)")
        }
        XCTAssertNoThrow(try RootDirectoryChange.apply(nil, to: &bound), "nothing asked, nothing checked")
    }
}
