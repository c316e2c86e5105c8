import Glibc
import Ptrace
import XCTest

/// Reading another process's UTS namespace from a thread that enters it
/// leaves crtool where it was.
final class NamespaceEntryTests: XCTestCase {
    private let children = Children()

    override func tearDown() {
        children.killAll()
        super.tearDown()
    }

    func testTheNamesOfAnotherUTSNamespaceAreReadWithoutLeavingOurs() throws {
        let own = UTSNames.current()
        let ownID = try NamespaceKind.uts.ownID()
        let pid = try spawn("/usr/bin/unshare", ["--uts", "/bin/sh", "-c",
                                                 "echo apart > /proc/sys/kernel/hostname; echo far > /proc/sys/kernel/domainname; exec sleep 60"],
                            into: children)
        try waitUntil("the shell named its namespace and became sleep") {
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n"
        }
        XCTAssertNotEqual(try NamespaceKind.uts.id(pid: pid), ownID)
        XCTAssertEqual(try UTSNames.of(pid: pid), UTSNames(hostname: "apart", domainname: "far"))
        XCTAssertEqual(UTSNames.current(), own, "this thread moved")
        XCTAssertEqual(try NamespaceKind.uts.ownID(), ownID, "the process moved")
    }

    func testANamespaceIsNamedByTheInodeItsLinkShows() throws {
        var st = stat()
        XCTAssertEqual(stat("/proc/self/ns/ipc", &st), 0)
        XCTAssertEqual(try NamespaceKind.ipc.ownID(), UInt64(st.st_ino))
        XCTAssertThrowsError(try NamespaceKind.net.id(pid: Int32.max)) { error in
            XCTAssertTrue("\(error)".contains("/proc/\(Int32.max)/ns/net"), "\(error)")
        }
    }
}
