import Checkpoint
import Glibc
import Ptrace
import XCTest

/// Shared mounts come back in the peer groups they were in, and slaves
/// as slaves of the group they received from, within a namespace and
/// across a namespace copied with its propagation unchanged: a mount
/// made at one place after the restore shows at the places it showed at
/// before the dump, and a mount made on a slave stays there.
final class MountPeerGroupTests: EndToEndCase {
    private let ticker = BuildProducts.packageRoot + "/fixtures/namespaces/ticker.py"

    func testPeersAndSlavesOfATmpfsPropagateAsBeforeAfterTheRestore() throws {
        let base = try canonical(scratch.newDirectory("groups"))
        let (a, b, c) = (base + "/a", base + "/b", base + "/c")
        for directory in [a, b, c] { XCTAssertEqual(mkdir(directory, 0o755), 0) }
        // b is a peer of a; c, a bind of a part of a, a slave of their group.
        let setup = ["mount -t tmpfs crtool-groups \(a)", "mount --make-shared \(a)", "mkdir \(a)/sub", "mount --bind \(a) \(b)",
                     "mount --bind \(a)/sub \(c)", "mount --make-slave \(c)",
                     "{ unshare --mount --propagation unchanged python3 \(ticker) copy & }", "exec python3 \(ticker) first"].joined(separator: " && ")
        let program = try startProgram("groups", "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", setup]) {
            $0 == "first ready"
        }
        defer { try? stopTree(program.pid) }
        try program.waitFor("copy tick", atLeast: 2)
        let copy = try XCTUnwrap(ProcessTable.children(of: program.pid).first, "the process in the copy")
        let expected = ["0 /a shared:1", "0 /b shared:1", "0 /c master:1", "1 /a shared:1", "1 /b shared:1", "1 /c master:1"]
        XCTAssertEqual(try groupView([program.pid, copy], under: base), expected)

        let image = try checkpoint(program)
        let mounts = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile).compactMap(\.mounts)
        XCTAssertEqual(mounts.flatMap { $0.filter { $0.mountPoint.hasPrefix(base) } }.map { [$0.peerGroup != nil, $0.masterGroup != nil] },
                       [[true, false], [true, false], [false, true], [true, false], [true, false], [false, true]])
        try restoreAndWatch(image, as: program, counting: "first tick")
        try program.waitFor("copy tick", atLeast: (program.numbers("copy tick").last ?? 0) + 3)
        assertNoFailures(program)
        XCTAssertEqual(try groupView([program.pid, copy], under: base), expected)

        // A mount on a's directory reaches b and c in both namespaces; one on c reaches nothing.
        let probe = try runCommand("/usr/bin/nsenter", ["-t", "\(program.pid)", "-m", "mount", "-t", "tmpfs", "crtool-probe", a + "/sub"],
                                   outputPrefix: scratch.newPath("probe"), timeout: 10)
        XCTAssertTrue(probe.succeeded, "\(probe)")
        for pid in [program.pid, copy] {
            XCTAssertEqual(try places(of: "crtool-probe", in: pid, under: base), ["/a/sub", "/b/sub", "/c"], "pid \(pid)")
        }
        let onSlave = try runCommand("/usr/bin/nsenter", ["-t", "\(copy)", "-m", "mount", "-t", "tmpfs", "crtool-slave-probe", c],
                                     outputPrefix: scratch.newPath("slave-probe"), timeout: 10)
        XCTAssertTrue(onSlave.succeeded, "\(onSlave)")
        XCTAssertEqual(try places(of: "crtool-slave-probe", in: copy, under: base), ["/c"])
        XCTAssertEqual(try places(of: "crtool-slave-probe", in: program.pid, under: base), [])
    }

    /// Each mount below `base` of each process, in order, with its peer
    /// and master groups named by the order they first appear in, since
    /// the kernel's numbers are not the dump's after a restore.
    private func groupView(_ pids: [Int32], under base: String) throws -> [String] {
        var names: [String: Int] = [:]
        var view: [String] = []
        for (n, pid) in pids.enumerated() {
            for m in try MountTable.read(pid: pid) where m.mountPoint.hasPrefix(base + "/") {
                let groups = m.propagation.map { field -> String in
                    guard let colon = field.firstIndex(of: ":") else { return field }
                    let number = String(field[field.index(after: colon)...])
                    if names[number] == nil { names[number] = names.count + 1 }
                    return "\(field[..<colon]):\(names[number]!)"
                }
                view.append((["\(n)", String(m.mountPoint.dropFirst(base.count))] + groups).joined(separator: " "))
            }
        }
        return view
    }

    private func places(of source: String, in pid: Int32, under base: String) throws -> [String] {
        try MountTable.read(pid: pid).filter { $0.source == source && $0.mountPoint.hasPrefix(base + "/") }
            .map { String($0.mountPoint.dropFirst(base.count)) }.sorted()
    }
}
