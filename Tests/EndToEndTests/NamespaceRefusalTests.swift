import Glibc
import XCTest

/// A tree with a process in a namespace crtool does not make again (a
/// user namespace inside another) is refused by name, and left running
/// untraced: crtool would restore it into another namespace.
final class NamespaceRefusalTests: EndToEndCase {
    func testAUserNamespaceInsideAnotherIsRefused() throws {
        try assertRefused(["--user", "--map-root-user", "/usr/bin/unshare", "--user"], namespace: "crtool restores user namespaces only one level below its own")
    }

    private func assertRefused(_ unshareFlags: [String], namespace: String) throws {
        let out = scratch.newPath("unshare.out")
        let root = try spawnProcess("/usr/bin/unshare", unshareFlags + ["/bin/sleep", "60"],
                                    stdout: out, stderr: scratch.newPath("unshare.err"))
        defer { try? killAndReap(root) }
        // The sleep, whichever process it is, must have entered its namespace.
        XCTAssertTrue(poll(timeout: 10) {
            ([root] + ProcessTable.descendants(of: root)).contains { readTextFile("/proc/\($0)/comm") == "sleep\n" }
        })
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(root)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains(namespace), "the message names the namespace: \(result)")
        XCTAssertFalse(fileExists(dir + "/manifest.json"), "a refused dump left a manifest")
        for pid in [root] + ProcessTable.descendants(of: root) {
            XCTAssertTrue(ProcessTable.isAlive(pid), "pid \(pid) keeps running")
            XCTAssertEqual(ProcessTable.tracer(of: pid), 0, "pid \(pid) is no longer traced")
        }
    }
}
