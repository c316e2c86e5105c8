import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A mount namespace copied from another of the tree's (a service's
/// PrivateTmp= in a container, a sandbox started by a program in a
/// namespace of its own) shares the file systems that one made: the
/// restore makes it as a copy of that one again, so a tmpfs both have is
/// one file system after the restore as before. The writer and reader of
/// fixtures/namespaces/copiedmounts.py share a count through such a tmpfs.
final class CopiedMountNamespaceTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/copiedmounts.py"

    func testATmpfsOfTheNamespaceACopyWasMadeFromStaysShared() throws {
        let point = try canonical(scratch.newDirectory("shared"))
        let setup = ["mount -t tmpfs crtool-shared \(point)", "echo 0 > \(point)/count", "mkdir \(point)/box",
                     "exec python3 \(script) writer \(point)"].joined(separator: " && ")
        let program = try startProgram("copied", "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", setup])
        defer { try? stopTree(program.pid) }
        try program.waitFor("seen", atLeast: 3)
        let reader = try XCTUnwrap(ProcessTable.children(of: program.pid).first, "the reader")
        XCTAssertNotEqual(try NamespaceKind.mnt.id(pid: reader), try NamespaceKind.mnt.id(pid: program.pid))
        let before = (writer: try mountView(of: program.pid), reader: try mountView(of: reader))
        XCTAssertEqual(try device(at: point, pid: reader), try device(at: point, pid: program.pid), "the tmpfs is one before the dump")

        let image = try checkpoint(program)
        let saved = try ImageDirectory.open(at: image)
        XCTAssertEqual(saved.manifest.formatVersion, Manifest.mountNamespaceCopyFormatVersion)
        let namespaces = try saved.readJSON([NamespaceImage].self, from: NamespaceImage.listFile).filter { $0.kind == .mnt }
        XCTAssertEqual(namespaces.count, 2)
        let (first, copy) = (namespaces[0], namespaces[namespaces.count - 1])
        XCTAssertNil(first.copiedFrom)
        XCTAssertEqual(copy.copiedFrom, first.id)
        XCTAssertEqual(first.mounts?.first { $0.mountPoint == point }?.origin, .fresh)
        XCTAssertEqual(copy.mounts?.first { $0.mountPoint == point }?.origin, .host, "the copy's tmpfs is the first namespace's")
        XCTAssertEqual(copy.mounts?.first { $0.mountPoint == point + "/box" }?.origin, .fresh)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("mnt:[\(copy.id)] of the tree's own: a copy of mnt:[\(first.id)], "), "\(shown)")

        let lastTick = try XCTUnwrap(program.numbers("tick").last)
        let mark = try restoreAndWatch(image, as: program)
        // The reader reads what the writer writes after the restore: the
        // same tmpfs, not a copy made of it at the dump.
        try program.waitFor("seen", atLeast: lastTick + 10, from: mark)
        assertNoFailures(program)
        XCTAssertEqual(try device(at: point, pid: reader), try device(at: point, pid: program.pid), "the tmpfs is one after the restore")
        XCTAssertEqual(try mountView(of: program.pid), before.writer)
        XCTAssertEqual(try mountView(of: reader), before.reader)

        // A copy of another namespace than its first process's parent's is refused by field.
        let edited = try editedCopy(of: image, file: NamespaceImage.listFile,
                                    replacing: "\"copiedFrom\" : \(first.id)", with: "\"copiedFrom\" : \(copy.id)")
        try stopTree(program.pid)
        try assertRestoreRefused(edited, pid: program.pid, mentioning: [NamespaceImage.listFile, "copiedFrom", "is not the mount namespace of the parent"])
    }

    private func device(at point: String, pid: Int32) throws -> String {
        let m = try XCTUnwrap(MountTable.read(pid: pid).last { $0.mountPoint == point }, "pid \(pid) has no mount at \(point)")
        return "\(m.major):\(m.minor)"
    }
}
