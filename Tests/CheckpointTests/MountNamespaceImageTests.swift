import Foundation
@testable import Checkpoint
import Ptrace
import XCTest

/// The pure parts of mount namespace support: the order mounts are made
/// in, where a namespace's path lies in crtool's, the flags given to
/// mount_setattr, and the checks a hostile list of mounts fails.
final class MountNamespaceImageTests: XCTestCase {
    func testMountsComeEachAfterTheOneTheySitOn() throws {
        let table = try MountTable.parse("""
        22 27 0:21 / /proc rw - proc proc rw
        29 26 0:26 / /dev/pts rw - devpts devpts rw
        27 1 254:0 / / rw - ext4 /dev/vda rw
        26 24 0:24 / /dev/pts rw - devpts devpts rw
        24 27 0:6 / /dev rw - devtmpfs devtmpfs rw
        """)
        XCTAssertEqual(MountTable.parentsFirst(table).map(\.id), [27, 22, 24, 26, 29])
    }

    /// A container runtime binds its /dev/null over files of a /proc it
    /// mounted before /dev: the bind comes after /dev, as the table has it.
    func testABindOfAPartOfALaterMountComesAfterIt() throws {
        let table = try MountTable.parse("""
        67 44 254:0 /srv/rootfs / ro - ext4 /dev/vda rw
        68 67 0:40 / /proc rw - proc proc rw
        69 67 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755
        70 69 0:42 / /dev/pts rw - devpts devpts rw
        45 68 0:40 /bus /proc/bus ro - proc proc rw
        50 68 0:41 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,mode=755
        """)
        XCTAssertEqual(MountTable.parentsFirst(table).map(\.id), [67, 68, 69, 70, 45, 50])
    }

    func testAPathIsFoundThroughTheMountItLiesIn() {
        var root = SavedMount(mountPoint: "/", parent: nil, origin: .host, fsType: "ext4", source: "/dev/vda", root: "/", flags: [], propagation: [])
        var tmp = SavedMount(mountPoint: "/tmp", parent: 0, origin: .bind, fsType: "ext4", source: "/dev/vda", root: "/tmp/private/tmp",
                             flags: [], propagation: [])
        tmp.bindSource = "/tmp/private/tmp"
        let fresh = SavedMount(mountPoint: "/home", parent: 0, origin: .fresh, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: [])
        var again = SavedMount(mountPoint: "/srv/home", parent: 0, origin: .bind, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: [])
        again.bindSource = "/tmp/x"
        again.fromNamespace = true
        root.flags = ["ro"]
        let mounts = [root, tmp, fresh, again]
        XCTAssertEqual(MountedPath.host("/etc/passwd", in: mounts), "/etc/passwd")
        XCTAssertEqual(MountedPath.host("/tmp", in: mounts), "/tmp/private/tmp")
        XCTAssertEqual(MountedPath.host("/tmp/a/b", in: mounts), "/tmp/private/tmp/a/b")
        XCTAssertEqual(MountedPath.host("/tmpx/a", in: mounts), "/tmpx/a", "a sibling with a longer name is not below /tmp")
        XCTAssertNil(MountedPath.host("/home/user", in: mounts), "inside a tmpfs the restore makes anew")
        XCTAssertEqual(MountedPath.host("/srv/home/f", in: mounts), "/tmp/private/tmp/x/f", "bound again from inside the namespace")
        // A path written with doubled slashes or "." (TMPDIR=/tmp/ gives them) lies where the plain one does.
        XCTAssertEqual(MountedPath.host("/tmp//a/./b", in: mounts), "/tmp/private/tmp/a/b")
        XCTAssertNil(MountedPath.host("//home/./user", in: mounts))
        XCTAssertEqual(MountedPath.lexical("/tmp//a/./b/"), "/tmp/a/b")
        XCTAssertEqual(MountedPath.lexical("/"), "/")
        XCTAssertEqual(MountedPath.lexical("/a/../b"), "/a/../b", ".. is left to the links before it")
    }

    /// A namespace copied from another of the tree's has that one's
    /// mounts as its `host` ones: its paths lie in crtool's as that
    /// one's do.
    func testAPathOfACopiedNamespaceIsFoundThroughTheOneItCopied() {
        let root = SavedMount(mountPoint: "/", parent: nil, origin: .host, fsType: "ext4", source: "/dev/vda", root: "/", flags: [], propagation: [])
        var tmp = SavedMount(mountPoint: "/tmp", parent: 0, origin: .bind, fsType: "ext4", source: "/dev/vda", root: "/srv/tmp", flags: [], propagation: [])
        tmp.bindSource = "/srv/tmp"
        let shm = SavedMount(mountPoint: "/dev/shm", parent: 0, origin: .fresh, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: [])
        var first = NamespaceImage(kind: .mnt, id: 10)
        first.mounts = [root, tmp, shm]
        var data = SavedMount(mountPoint: "/data", parent: 0, origin: .bind, fsType: "ext4", source: "/dev/vda", root: "/srv/tmp/d", flags: [], propagation: [])
        data.bindSource = "/tmp/d"
        let own = SavedMount(mountPoint: "/tmp/own", parent: 1, origin: .fresh, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: [])
        var copy = NamespaceImage(kind: .mnt, id: 11)
        copy.copiedFrom = 10
        copy.mounts = [root, SavedMount(mountPoint: "/tmp", parent: 0, origin: .host, fsType: "ext4", source: "/dev/vda", root: "/srv/tmp", flags: [], propagation: []),
                       SavedMount(mountPoint: "/dev/shm", parent: 0, origin: .host, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: []),
                       data, own]
        let namespaces = [first, copy]
        XCTAssertEqual(MountedPath.host("/tmp/a", inNamespace: 11, of: namespaces), "/srv/tmp/a", "through the first namespace's bind")
        XCTAssertEqual(MountedPath.host("/data/f", inNamespace: 11, of: namespaces), "/srv/tmp/d/f", "a bind of a path of the first namespace")
        XCTAssertNil(MountedPath.host("/dev/shm/x", inNamespace: 11, of: namespaces), "the first namespace's tmpfs")
        XCTAssertNil(MountedPath.host("/tmp/own/x", inNamespace: 11, of: namespaces), "its own tmpfs")
        XCTAssertEqual(MountedPath.host("/etc/hosts", inNamespace: 11, of: namespaces), "/etc/hosts")
        XCTAssertNil(MountedPath.host("/etc/hosts", inNamespace: 12, of: namespaces), "a namespace not in the image")
        var loop = copy
        loop.copiedFrom = 11
        XCTAssertNil(MountedPath.host("/etc/hosts", inNamespace: 11, of: [first, loop]), "a loop of copies ends")
    }

    /// A tmpfs two namespaces of the tree would each make anew is refused
    /// at the dump: they would no longer share its files.
    func testATmpfsTwoNamespacesWouldEachMakeIsRefused() throws {
        let directory = NSTemporaryDirectory() + "crtool-made-once-\(getpid())"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
        defer { rmdir(directory) }
        let ours = try MountTable.parse("1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw")
        let theirs = try MountTable.parse("""
            1 0 8:1 / / rw,relatime - ext4 /dev/vda rw
            2 1 0:99 / \(directory) rw,relatime - tmpfs shared rw
            """)
        var madeAnew: [String: String] = [:]
        let first = try MountNamespaceDumper.saved(theirs, against: ours, namespace: "mnt:[10]", pid: getpid(), dataLimit: 1 << 20, madeAnew: &madeAnew)
        XCTAssertEqual(first.map(\.origin), [.host, .fresh])
        XCTAssertThrowsError(try MountNamespaceDumper.saved(theirs, against: ours, namespace: "mnt:[11]", pid: getpid(), dataLimit: 1 << 20,
                                                             madeAnew: &madeAnew)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("the tmpfs at \(directory) in mnt:[11] is the tmpfs at \(directory) in mnt:[10] as well"), text)
        }
        // Another tmpfs is no conflict.
        let other = try MountTable.parse("""
            1 0 8:1 / / rw,relatime - ext4 /dev/vda rw
            2 1 0:98 / \(directory) rw,relatime - tmpfs other rw
            """)
        XCTAssertNoThrow(try MountNamespaceDumper.saved(other, against: ours, namespace: "mnt:[12]", pid: getpid(), dataLimit: 1 << 20, madeAnew: &madeAnew))
    }

    func testFlagsAreSetExactly() {
        let (set, clear) = MountAttributes.of(["ro", "nosuid", "relatime"])
        XCTAssertEqual(set, MountAttributes.readOnly | MountAttributes.noSuid)
        XCTAssertEqual(clear & (MountAttributes.noDev | MountAttributes.noExec | MountAttributes.atimeMask),
                       MountAttributes.noDev | MountAttributes.noExec | MountAttributes.atimeMask)
        XCTAssertEqual(MountAttributes.of(["noatime"]).set, MountAttributes.noAtime)
        XCTAssertEqual(MountAttributes.of([]).set, MountAttributes.strictAtime, "no atime flag shown is strictatime")
        XCTAssertEqual(MountPropagationCall.calls(for: [.shared, .slave]), [MountPropagationCall.slave, MountPropagationCall.shared])
        XCTAssertEqual(MountPropagationCall.calls(for: []), [MountPropagationCall.private])
    }

    func testAHostileListOfMountsIsRefusedByField() {
        let root = SavedMount(mountPoint: "/", parent: nil, origin: .host, fsType: "ext4", source: "/dev/vda", root: "/", flags: ["relatime"], propagation: [])
        var tmpfs = SavedMount(mountPoint: "/home", parent: 0, origin: .fresh, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: [])
        tmpfs.entries = [SavedMountEntry(path: "", kind: .directory, mode: 0o755, uid: 0, gid: 0),
                         SavedMountEntry(path: "user", kind: .directory, mode: 0o700, uid: 1000, gid: 1000)]
        XCTAssertNoThrow(try SavedMountCheck.check([root, tmpfs], file: "namespaces.json", field: "[0].mounts"))
        var cases: [(String, [SavedMount])] = []
        var m = tmpfs
        m.entries![1].path = "../etc"
        cases.append(("entries[1].path", [root, m]))
        m = tmpfs
        m.entries![1].path = "missing/user"
        cases.append(("entries[1].path", [root, m]))
        m = tmpfs
        m.entries!.append(SavedMountEntry(path: "link", kind: .symlink, mode: 0o777, uid: 0, gid: 0))
        cases.append(("entries[2].linkTarget", [root, m]))
        m = tmpfs
        m.entries!.append(SavedMountEntry(path: "dev", kind: .characterDevice, mode: 0o666, uid: 0, gid: 0))
        cases.append(("entries[2].device", [root, m]))
        m = tmpfs
        m.entries![1].mode = 0o100755
        cases.append(("entries[1].mode", [root, m]))
        m = tmpfs
        m.fsType = "ext4"
        cases.append(("[1].fsType", [root, m]))
        m = tmpfs
        m.parent = 1
        cases.append(("[1].parent", [root, m]))
        m = tmpfs
        m.mountPoint = "/home/../etc"
        cases.append(("[1].mountPoint", [root, m]))
        m = tmpfs
        m.flags = ["rw,exec"]
        cases.append(("[1].flags", [root, m]))
        m = tmpfs
        m.origin = .host
        cases.append(("[1].options", [root, m]))
        var bind = SavedMount(mountPoint: "/srv", parent: 0, origin: .bind, fsType: "ext4", source: "/dev/vda", root: "/data", flags: [], propagation: [])
        cases.append(("[1].bindSource", [root, bind]))
        bind.bindSource = "/data"
        // A key for a bind of crtool's below the root only, and a short one.
        var keyed = bind
        keyed.externalKey = "volume"
        XCTAssertNoThrow(try SavedMountCheck.check([root, keyed], file: "namespaces.json", field: "[0].mounts"))
        keyed.externalKey = ""
        cases.append(("[1].externalKey", [root, keyed]))
        keyed.externalKey = String(repeating: "k", count: 257)
        cases.append(("[1].externalKey", [root, keyed]))
        keyed.externalKey = "volume"
        keyed.fromNamespace = true
        cases.append(("[1].externalKey", [root, keyed]))
        var keyedTmpfs = tmpfs
        keyedTmpfs.externalKey = "t"
        cases.append(("[1].externalKey", [root, keyedTmpfs]))
        bind.propagation = ["peer"]
        cases.append(("[1].propagation", [root, bind]))
        var notRoot = root
        notRoot.origin = .fresh
        cases.append(("[0].origin", [notRoot]))
        // A container's root: a directory of crtool's bound there, never one of the namespace's.
        var boundRoot = root
        boundRoot.origin = .bind
        boundRoot.bindSource = "/srv/rootfs"
        XCTAssertNoThrow(try SavedMountCheck.check([boundRoot, tmpfs], file: "namespaces.json", field: "[0].mounts"))
        boundRoot.fromNamespace = true
        cases.append(("[0].origin", [boundRoot]))
        // bubblewrap's root: a part of a tmpfs of its own. Of a proc made anew, only the whole.
        var tmpfsRoot = tmpfs
        tmpfsRoot.mountPoint = "/"
        tmpfsRoot.parent = nil
        tmpfsRoot.root = "/newroot"
        XCTAssertNoThrow(try SavedMountCheck.check([tmpfsRoot], file: "namespaces.json", field: "[0].mounts"))
        let procPart = SavedMount(mountPoint: "/proc", parent: 0, origin: .fresh, fsType: "proc", source: "proc", root: "/sys", flags: [], propagation: [])
        cases.append(("[1].root", [root, procPart]))
        // A proc left to a PID namespace's first process: only a proc, with nothing on it.
        m = tmpfs
        m.pidNamespace = 4026532999
        cases.append(("[1].pidNamespace", [root, m]))
        var proc = SavedMount(mountPoint: "/proc", parent: 0, origin: .fresh, fsType: "proc", source: "proc", root: "/", flags: [], propagation: [])
        proc.pidNamespace = 4026532999
        XCTAssertNoThrow(try SavedMountCheck.check([root, proc], file: "namespaces.json", field: "[0].mounts"))
        let onProc = SavedMount(mountPoint: "/proc/sys", parent: 1, origin: .bind, fsType: "proc", source: "proc", root: "/sys", flags: ["ro"], propagation: [])
        var bound = onProc
        bound.bindSource = "/proc/sys"
        bound.fromNamespace = true
        cases.append(("[1].pidNamespace", [root, proc, bound]))
        cases.append(("mounts", []))
        for (field, mounts) in cases {
            XCTAssertThrowsError(try SavedMountCheck.check(mounts, file: "namespaces.json", field: "[0].mounts"), field) { error in
                XCTAssertTrue("\(error)".contains("namespaces.json") && "\(error)".contains(field), "\(field): \(error)")
            }
        }
    }

    /// Files with bytes, FIFOs and hard links: each field only on its
    /// kind, and a hard link only to an earlier file of the mount.
    func testHostileFilesOfATmpfsAreRefusedByField() {
        let root = SavedMount(mountPoint: "/", parent: nil, origin: .host, fsType: "ext4", source: "/dev/vda", root: "/", flags: [], propagation: [])
        var tmpfs = SavedMount(mountPoint: "/run/app", parent: 0, origin: .fresh, fsType: "tmpfs", source: "tmpfs", root: "/", flags: [], propagation: [])
        var file = SavedMountEntry(path: "state", kind: .file, mode: 0o600, uid: 0, gid: 0)
        file.content = Data("42".utf8)
        file.modifiedNanoseconds = 1_000_000_000
        file.extendedAttributes = ["user.origin": Data("here".utf8), "system.posix_acl_access": Data([2, 0, 0, 0])]
        var link = SavedMountEntry(path: "state.old", kind: .hardLink, mode: 0o600, uid: 0, gid: 0)
        link.linkTarget = "state"
        tmpfs.entries = [SavedMountEntry(path: "", kind: .directory, mode: 0o755, uid: 0, gid: 0), file, link,
                         SavedMountEntry(path: "fifo", kind: .fifo, mode: 0o600, uid: 0, gid: 0)]
        XCTAssertNoThrow(try SavedMountCheck.check([root, tmpfs], file: "namespaces.json", field: "[0].mounts"))
        var cases: [(String, (inout [SavedMountEntry]) -> Void)] = []
        cases.append(("entries[1].content", { $0[1].content = nil }))
        cases.append(("entries[1].content", { $0[1].content = Data() }))
        cases.append(("entries[3].content", { $0[3].content = Data("x".utf8) }))
        cases.append(("entries[0].modifiedNanoseconds", { $0[0].modifiedNanoseconds = 5 }))
        cases.append(("entries[1].modifiedNanoseconds", { $0[1].modifiedNanoseconds = -1 }))
        cases.append(("entries[2].linkTarget", { $0[2].linkTarget = nil }))
        cases.append(("entries[2].linkTarget", { $0[2].linkTarget = "missing" }))
        cases.append(("entries[2].linkTarget", { $0[2].linkTarget = "" }))
        cases.append(("entries[1].linkTarget", { $0.swapAt(1, 2) }))
        cases.append(("entries[3].linkTarget", { $0.append($0[2]); $0[3].linkTarget = "state.old" }))
        cases.append(("entries[3].device", { $0[3].device = 0x103 }))
        cases.append(("entries[1].extendedAttributes.system.sockprotoname", { $0[1].extendedAttributes?["system.sockprotoname"] = Data("x".utf8) }))
        cases.append(("entries[1].extendedAttributes.user.", { $0[1].extendedAttributes?["user."] = Data("x".utf8) }))
        cases.append(("entries[2].extendedAttributes.user.origin", { $0[2].extendedAttributes = ["user.origin": Data("x".utf8)] }))
        cases.append(("entries[1].extendedAttributes.user.origin", { $0[1].extendedAttributes?["user.origin"] = Data(count: 32769) }))
        cases.append(("entries[1].extendedAttributes", { e in
            e[1].extendedAttributes = Dictionary(uniqueKeysWithValues: (0...256).map { ("user.a\($0)", Data()) })
        }))
        for (field, edit) in cases {
            var m = tmpfs
            edit(&m.entries!)
            XCTAssertThrowsError(try SavedMountCheck.check([root, m], file: "namespaces.json", field: "[0].mounts"), field) { error in
                XCTAssertTrue("\(error)".contains(field), "\(field): \(error)")
            }
        }
    }

    /// A file's bytes go back page by page, a page of zeros left a hole.
    func testOnlyPagesWithBytesAreWritten() {
        var bytes = [UInt8](repeating: 0, count: 5 * 4096 + 100)
        bytes[4096 + 7] = 1
        bytes[2 * 4096] = 2
        bytes[5 * 4096 + 99] = 3
        XCTAssertEqual(TmpfsContents.dataRuns(bytes), [4096..<3 * 4096, 5 * 4096..<5 * 4096 + 100])
        XCTAssertEqual(TmpfsContents.dataRuns([UInt8](repeating: 0, count: 4096)), [])
        XCTAssertEqual(TmpfsContents.dataRuns([9]), [0..<1])
    }
}
