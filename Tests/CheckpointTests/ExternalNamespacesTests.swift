@testable import Checkpoint
import Glibc
import Ptrace
import XCTest

/// What `dump --external KIND[INODE]:KEY` takes, and what the restore
/// checks of the descriptor given for a namespace left out.
final class ExternalNamespacesTests: XCTestCase {
    private func leftOut(_ id: UInt64, key: String) -> NamespaceImage {
        var n = NamespaceImage(kind: .net, id: id)
        n.externalKey = key
        return n
    }

    private func given(_ namespaces: [NamespaceImage], _ inherited: [String]) -> Result<[UInt64: Int32], Error> {
        Result { try ExternalNamespaces.requireGiven(namespaces, inherited: inherited.map { ExternalFiles.Inherited($0)! }) }
    }

    func testTheFormIsCRIUsAndFilesAreNotTakenForNamespaces() {
        let parsed = ExternalNamespaces.LeftOut("net[4026532245]:extRootNetNS")
        XCTAssertEqual(parsed?.kind, .net)
        XCTAssertEqual(parsed?.id, 4_026_532_245)
        XCTAssertEqual(parsed?.key, "extRootNetNS")
        XCTAssertEqual(ExternalNamespaces.LeftOut("uts[7]:names")?.kind, .uts)
        XCTAssertEqual(ExternalNamespaces.LeftOut("pid[7]:pids")?.kind, .pid, "parsed, for the dump to refuse by kind")
        XCTAssertEqual(ExternalNamespaces.kinds, [.net, .uts, .ipc])
        for text in ["pipe:[123]", "socket:[9]", "/dev/pts/0", "net[12]", "net[12]:", "net[x]:key", "tty[136:0]:key", "veth[eth0]:key", "net:[12]:key"] {
            XCTAssertNil(ExternalNamespaces.LeftOut(text), text)
        }
    }

    func testANamespaceLeftOutMustBeGivenAsANamespaceOfItsKind() throws {
        let own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        let uts = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC)
        let file = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        defer { [own, uts, file].forEach { close($0) } }
        XCTAssertTrue([own, uts, file].allSatisfy { $0 >= 0 })
        let namespaces = [leftOut(11, key: "runtime-net"), NamespaceImage(kind: .uts, id: 12, hostname: "h", domainname: "d")]

        XCTAssertEqual(try given(namespaces, ["fd[\(own)]:runtime-net"]).get(), [11: own])
        XCTAssertEqual(try given([namespaces[1]], []).get(), [:], "nothing left out, nothing needed")
        for (inherited, text) in [
            ([], "net:[11] was left out at the dump (--external net[11]:runtime-net): give the restore the network namespace to put its processes in with --inherit-fd fd[N]:runtime-net"),
            (["fd[\(file)]:runtime-net"], "--inherit-fd fd[\(file)]:runtime-net: fd \(file) is not a network namespace"),
            (["fd[\(uts)]:runtime-net"], "fd \(uts) is not a network namespace"),
            (["fd[987]:runtime-net"], "crtool has no fd 987 open"),
        ] {
            XCTAssertThrowsError(try given(namespaces, inherited).get(), "\(inherited)") { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)")
            }
        }
        var pod = NamespaceImage(kind: .uts, id: 13)
        pod.externalKey = "pod-uts"
        XCTAssertEqual(try given([pod], ["fd[\(uts)]:pod-uts"]).get(), [13: uts])
        for (inherited, text) in [
            ([], "uts:[13] was left out at the dump (--external uts[13]:pod-uts): give the restore the UTS namespace to put its processes in"),
            (["fd[\(own)]:pod-uts"], "fd \(own) is not a UTS namespace (open one as /proc/PID/ns/uts)"),
        ] {
            XCTAssertThrowsError(try given([pod], inherited).get(), "\(inherited)") { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)")
            }
        }
    }

    func testTheDescriptorsGivenForNamespacesAreNotFiles() {
        let inherited = ["fd[3]:runtime-net", "fd[4]:pipe:[5]", "fd[5]:/var/log/app.log"].map { ExternalFiles.Inherited($0)! }
        XCTAssertEqual(ExternalNamespaces.forFiles(inherited, namespaces: [leftOut(11, key: "runtime-net")]).map(\.fd), [4, 5])
        XCTAssertEqual(ExternalNamespaces.forFiles(inherited, namespaces: []).map(\.fd), [3, 4, 5])
    }

    func testTheKindOfANamespaceDescriptorIsAskedOfNsfs() {
        for kind in [NamespaceKind.net, .uts, .ipc, .mnt, .pid, .user] {
            let fd = open("/proc/self/ns/\(kind.rawValue)", O_RDONLY | O_CLOEXEC)
            XCTAssertEqual(NamespaceKind.of(descriptor: fd), kind)
            close(fd)
        }
        XCTAssertNil(NamespaceKind.of(descriptor: -1))
    }

    func testADumpRefusesANamespaceToLeaveOutThatTheTreeDoesNotHave() {
        let saved = [leftOut(11, key: "a")]
        XCTAssertNoThrow(try ExternalNamespaces.requireAllFound([ExternalNamespaces.LeftOut("net[11]:a")!], saved: saved))
        XCTAssertThrowsError(try ExternalNamespaces.requireAllFound([ExternalNamespaces.LeftOut("net[12]:b")!], saved: saved)) { error in
            XCTAssertTrue("\(error)".contains("--external net[12]:b: no process of the tree is in such a namespace of its own"), "\(error)")
        }
    }
}
