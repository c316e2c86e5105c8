@testable import Checkpoint
import Glibc
import XCTest

/// What `--inherit-fd` takes, and what the restore checks of the
/// descriptors given before it makes anything.
final class ExternalFilesTests: XCTestCase {
    private var pipeEnds: [Int32] = [-1, -1]

    override func setUpWithError() throws {
        XCTAssertEqual(pipe(&pipeEnds), 0)
    }

    override func tearDown() {
        pipeEnds.forEach { close($0) }
    }

    private func process(_ files: [FileDescriptorImage]) -> ProcessImage {
        var p = ProcessImage.testing(pid: 70)
        p.files = files
        return p
    }

    private func file(_ fd: Int32, _ path: String, flags: Int32, external: Bool = false) -> FileDescriptorImage {
        var f = FileDescriptorImage(fd: fd, kind: path.hasPrefix("pipe:") ? .pipe : .regular, path: path, flags: flags, closeOnExec: false, position: 0)
        f.external = external ? true : nil
        return f
    }

    private func problems(_ files: [FileDescriptorImage], _ given: [String]) -> String? {
        do {
            try ExternalFiles.requireGiven([process(files)], inherited: given.map { ExternalFiles.Inherited($0)! })
            return nil
        } catch {
            return "\(error)"
        }
    }

    func testTheFormIsCRIUs() {
        XCTAssertEqual(ExternalFiles.Inherited("fd[3]:pipe:[123]"), ExternalFiles.Inherited("fd[3]:pipe:[123]"))
        XCTAssertEqual(ExternalFiles.Inherited("fd[12]:var/log/a:b")?.fd, 12)
        XCTAssertEqual(ExternalFiles.Inherited("fd[12]:var/log/a:b")?.file, "var/log/a:b")
        for bad in ["3:pipe:[1]", "fd[]:pipe:[1]", "fd[-1]:x", "fd[3]", "fd[3]:", "fd[3]pipe", "fd[x]:y"] {
            XCTAssertNil(ExternalFiles.Inherited(bad), bad)
        }
    }

    func testAFileLeftOutMustBeGivenAndAGivenOneMustBeThere() {
        let out = file(1, "pipe:[55]", flags: O_WRONLY, external: true)
        XCTAssertNil(problems([out], ["fd[\(pipeEnds[1])]:pipe:[55]"]))
        XCTAssertEqual(problems([out], []), "fd 1 of pid 70 is pipe:[55], left out at the dump (--external): give the restore one in its place with --inherit-fd fd[N]:pipe:[55]")
        XCTAssertTrue(problems([out], ["fd[\(pipeEnds[1])]:pipe:[55]", "fd[\(pipeEnds[1])]:pipe:[56]"])?.contains("no descriptor of the image is pipe:[56]") == true)
        XCTAssertTrue(problems([out], ["fd[9999]:pipe:[55]"])?.contains("crtool has no fd 9999 open") == true)
    }

    func testTheGivenDescriptorMustBeOfTheFilesTypeAndOpenForWhatTheProcessDid() {
        let out = file(1, "pipe:[55]", flags: O_WRONLY, external: true)
        XCTAssertEqual(problems([out], ["fd[\(pipeEnds[0])]:pipe:[55]"]),
                       "--inherit-fd fd[\(pipeEnds[0])]:pipe:[55]: fd \(pipeEnds[0]) is open for reading, but fd 1 of pid 70 was open for writing")
        let devNull = open("/dev/null", O_RDWR)
        defer { close(devNull) }
        XCTAssertTrue(problems([out], ["fd[\(devNull)]:pipe:[55]"])?.contains("fd \(devNull) is not a pipe or FIFO") == true)
        XCTAssertNil(problems([file(4, "/var/log/app.log", flags: O_WRONLY | O_APPEND)], ["fd[\(devNull)]:var/log/app.log"]),
                     "a path may leave out its leading slash, and a file of the image not left out may be given another")
    }

    func testOneEndOfAPairInTheImageCannotBeGivenAnother() {
        let devNull = open("/dev/null", O_RDWR)
        defer { close(devNull) }
        var ends = [Int32](repeating: -1, count: 2)
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends), 0)
        defer { ends.forEach { close($0) } }
        func end(_ fd: Int32, _ inode: UInt64, peer: UInt64?) -> FileDescriptorImage {
            var f = FileDescriptorImage(fd: fd, kind: .unixSocket, path: "socket:[\(inode)]", flags: O_RDWR, closeOnExec: false, position: 0)
            f.inode = inode
            f.unixSocket = UnixSocketState(socket: UnixSocketEnd(inode: inode, type: .stream), peer: peer.map { UnixSocketEnd(inode: $0, type: .stream) })
            return f
        }
        let pair = [end(5, 801, peer: 802), end(6, 802, peer: 801)]
        XCTAssertEqual(problems(pair, ["fd[\(ends[0])]:socket:[801]"]),
                       "socket:[801] is one end of a socket pair whose other end, fd 6 of pid 70, is in the image: the pair comes back whole or not at all")
        XCTAssertNil(problems([end(5, 801, peer: nil)], ["fd[\(ends[0])]:socket:[801]"]), "a socket whose peer is outside the image")
        var data = file(7, "/data/802", flags: O_RDONLY)
        data.inode = 802
        XCTAssertNil(problems([end(5, 801, peer: 802), data], ["fd[\(devNull)]:data/802"]), "a file's inode is not a socket's")
    }

    /// Files given another are marked as left out, so that the checks of
    /// what the restore opens on this host pass them by; the others stay.
    func testFilesGivenAnotherAreMarkedLeftOut() {
        var processes = [process([file(1, "/var/log/app.log", flags: O_WRONLY), file(2, "/var/log/other.log", flags: O_WRONLY),
                                  file(3, "pipe:[55]", flags: O_WRONLY, external: true)])]
        ExternalFiles.markGiven(&processes, inherited: [ExternalFiles.Inherited("fd[9]:var/log/app.log")!])
        XCTAssertEqual(processes[0].files.map(\.external), [true, nil, true])
    }

    /// A terminal left out is counted in the directory it is in, so the
    /// dump does not look for its master in that devpts; other names are
    /// not terminals.
    func testTerminalsLeftOutAreFoundByTheirDirectory() {
        let files = [file(0, "/dev/pts/0", flags: O_RDWR, external: true), file(1, "/dev/pts/3", flags: O_RDWR, external: true),
                     file(2, "/dev/pts/5", flags: O_RDWR), file(3, "pipe:[7]", flags: O_RDONLY, external: true)]
        XCTAssertEqual(ExternalFiles.terminals(of: [process(files)]), ["/dev/pts": [0, 3]])
    }

    /// A bind of a file left out (runc's /dev/console) is made from the
    /// file given in its place; one given without a path is refused,
    /// naming the mount.
    func testABindOfAFileLeftOutIsMadeFromTheOneGiven() throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(null, 0)
        defer { close(null) }
        var console = SavedMount(mountPoint: "/dev/console", parent: 0, origin: .bind, fsType: "devpts", source: "devpts", root: "/0",
                                 flags: [], propagation: [])
        console.bindSource = "/dev/pts/0"
        console.fromNamespace = true
        var mnt = NamespaceImage(kind: .mnt, id: 9)
        mnt.mounts = [console]
        var namespaces = [mnt]
        try ExternalFiles.bindGiven(&namespaces, inherited: [try XCTUnwrap(ExternalFiles.Inherited("fd[\(null)]:dev/pts/0"))])
        XCTAssertEqual(namespaces[0].mounts?[0].bindSource, "/dev/null")
        XCTAssertNil(namespaces[0].mounts?[0].fromNamespace, "from crtool's namespace")

        namespaces = [mnt]
        XCTAssertThrowsError(try ExternalFiles.bindGiven(&namespaces, inherited: [try XCTUnwrap(ExternalFiles.Inherited("fd[\(pipeEnds[0])]:/dev/pts/0"))])) { error in
            XCTAssertTrue("\(error)".contains("mnt:[9] binds /dev/pts/0 at /dev/console, and fd \(pipeEnds[0]) has no path"), "\(error)")
        }
    }
}
