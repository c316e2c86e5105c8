import Checkpoint
import Glibc
import Ptrace
import XCTest

/// A tmpfs of a mount namespace of the tree's own comes back with what it
/// held: files with their bytes (holes kept), owners, modes and times of
/// modification, second names as hard links, FIFOs. A process writing in
/// it through a descriptor and a shared mapping carries on without a gap.
/// fixtures/namespaces/tmpfsfiles.py checks its log and page every tick.
final class TmpfsFilesTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/tmpfsfiles.py"

    func testATmpfsOfTheNamespaceComesBackWithItsFiles() throws {
        let point = try canonical(scratch.newDirectory("tmp"))
        let setup = [
            "mount -t tmpfs -o size=4m,mode=755 crtool-data \(point)",
            "printf 'notes\\n' > \(point)/notes", "chown 1:2 \(point)/notes", "chmod 640 \(point)/notes",
            "touch -m -d @1000000000.25 \(point)/notes",
            "ln \(point)/notes \(point)/notes-link",
            "mkfifo -m 604 \(point)/pipe",
            "truncate -s 1M \(point)/sparse", "printf x | dd of=\(point)/sparse bs=1 seek=524288 conv=notrunc status=none",
            "python3 -c \"\(Self.attributesSetter(point))\"",
            "exec python3 \(script) \(point)",
        ].joined(separator: " && ")
        let program = try startProgram("tmpfsfiles", "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", setup])
        defer { try? stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 2)

        let image = try checkpoint(program)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let entries = try XCTUnwrap(saved.first { $0.kind == .mnt }?.mounts?.first { $0.mountPoint == point }?.entries)
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        XCTAssertEqual(byPath["notes"]?.kind, .file)
        XCTAssertEqual(byPath["notes"]?.content, Data("notes\n".utf8))
        XCTAssertEqual(byPath["notes-link"]?.kind, .hardLink)
        XCTAssertEqual(byPath["notes-link"]?.linkTarget, "notes")
        XCTAssertEqual(byPath["pipe"]?.kind, .fifo)
        XCTAssertEqual(byPath["sparse"]?.content?.count, 1 << 20)
        XCTAssertEqual(byPath["log"]?.kind, .file)
        XCTAssertEqual(byPath["counter"]?.content?.count, Int(getpagesize()))
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("    \(point): tmpfs made anew, relatime, holding 6 entries, 4 files with "), "\(shown)")

        try restoreAndWatch(image, as: program)
        let root = "/proc/\(program.pid)/root\(point)"
        XCTAssertEqual(readTextFile(root + "/notes"), "notes\n")
        var notes = stat(), link = stat(), st = stat()
        XCTAssertEqual(lstat(root + "/notes", &notes), 0)
        XCTAssertEqual([notes.st_uid, notes.st_gid, notes.st_mode & 0o7777, UInt32(notes.st_nlink)], [1, 2, 0o640, 2])
        XCTAssertEqual([notes.st_mtim.tv_sec, notes.st_mtim.tv_nsec], [1_000_000_000, 250_000_000])
        XCTAssertEqual(lstat(root + "/notes-link", &link), 0)
        XCTAssertEqual(link.st_ino, notes.st_ino, "notes-link is another name of notes")
        XCTAssertEqual(lstat(root + "/pipe", &st), 0)
        XCTAssertEqual([st.st_mode & S_IFMT, st.st_mode & 0o7777], [S_IFIFO, 0o604])
        XCTAssertEqual(lstat(root + "/sparse", &st), 0)
        XCTAssertEqual(st.st_size, 1 << 20)
        XCTAssertLessThanOrEqual(st.st_blocks * 512, 8192, "the holes of the sparse file were filled")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: point), [], "the files were made in crtool's namespace")
        XCTAssertEqual(try ExtendedAttributes.read(root + "/notes"), Self.notesAttributes, "a capability, an ACL, a user's and a trusted attribute")
        XCTAssertEqual(try ExtendedAttributes.read(root + "/notes-link"), Self.notesAttributes)
        XCTAssertEqual(try ExtendedAttributes.read(root), ["user.purpose": Array("scratch".utf8)], "the tmpfs's own directory")
        XCTAssertEqual(try ExtendedAttributes.read(root + "/pipe"), [:])
    }

    /// What the set-up gives notes: a download's origin, a trusted
    /// attribute, a file capability (CAP_NET_BIND_SERVICE) and an ACL
    /// that lets uid 1000 read it (mask r--, as mode 640's group bits).
    private static let notesAttributes: [String: [UInt8]] = [
        "user.xdg.origin.url": Array("https://example.org/notes".utf8),
        "trusted.crtool": [0, 1, 2],
        // VFS_CAP_REVISION_2 | effective, permitted: bit 10; inheritable 0.
        "security.capability": [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // Version 2, then (tag, perm, id) as 16, 16 and 32 bits: user::rw-,
        // user:1000:r--, group::r--, mask::r--, other::---.
        "system.posix_acl_access": [2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 4, 0, 232, 3, 0, 0,
                                    4, 0, 4, 0, 255, 255, 255, 255, 16, 0, 4, 0, 255, 255, 255, 255, 32, 0, 0, 0, 255, 255, 255, 255],
    ]

    /// A Python line that gives `point`/notes `notesAttributes`, and
    /// `point` itself one, as setfattr and setfacl would.
    private static func attributesSetter(_ point: String) -> String {
        let sets = notesAttributes.sorted { $0.key < $1.key }.map { name, value in
            "os.setxattr('\(point)/notes', '\(name)', bytes(\(value)))"
        }
        return (["import os"] + sets + ["os.setxattr('\(point)', 'user.purpose', b'scratch')"]).joined(separator: "; ")
    }

    /// A socket's file in such a tmpfs would name nothing after the
    /// restore: refused, naming it. So is more data than --ghost-limit.
    func testASocketFileOrTooMuchDataIsRefusedByName() throws {
        let point = try canonical(scratch.newDirectory("tmp"))
        let bind = "import socket; socket.socket(socket.AF_UNIX).bind('\(point)/sock')"
        let program = try startProgram("tmpfs", "/usr/bin/unshare", [
            "--mount", "/bin/sh", "-c",
            "mount -t tmpfs crtool-tmp \(point) && python3 -c \"\(bind)\" && echo ready && exec sleep 600",
        ])
        defer { try? stopTree(program.pid) }
        try assertDumpRefused(program, mentioning: ["the tmpfs at \(point) in mnt:[", "holds \(point)/sock, a socket"], namingAnFd: false)

        let data = try startProgram("tmpfs-data", "/usr/bin/unshare", [
            "--mount", "/bin/sh", "-c",
            "mount -t tmpfs crtool-tmp \(point) && head -c 2048 /dev/urandom > \(point)/blob && echo ready && exec sleep 600",
        ])
        defer { try? stopTree(data.pid) }
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(data.pid)", "-D", dir, "--ghost-limit", "1K"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("holds more than the 1024 bytes of files crtool saves of one (--ghost-limit), counting \(point)/blob of 2048 bytes"),
                      "\(result)")
        assertRunningFree(data)
    }
}
