@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// crtool-guard seen from outside: a socket it was handed stays open until
/// crtool forgets it, and `settle` returns only once that copy is closed;
/// at the end of its socket, as at crtool's death, it does what is still
/// registered and nothing that was forgotten.
final class DeathGuardTests: XCTestCase {
    private func newGuard() -> DeathGuard {
        DeathGuard(executable: FreezeWhileCreatingTests.productsDirectory + "/crtool-guard")
    }

    func testAForgottenSocketIsClosedOnceSettled() throws {
        let watcher = newGuard()
        let (mine, peer) = try Sockets.pair(type: Int32(SOCK_STREAM.rawValue))
        defer { close(peer) }
        watcher.resumeAtDeath(socket: mine, inode: 42, reuseAddress: 0)
        close(mine)
        XCTAssertFalse(Sockets.isReadable(peer, within: 200), "the guard's copy keeps the socket open")
        watcher.forget(socket: 42)
        watcher.settle()
        XCTAssertTrue(Sockets.isReadable(peer, within: 0), "closed by the time settle returns")
        XCTAssertEqual(try Sockets.receive(peer, count: 1), [], "end of file")
    }

    func testAtTheEndOnlyWhatIsStillRegisteredIsDone() throws {
        let directory = TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kept = directory + "/kept", forgotten = directory + "/forgotten"
        for path in [kept, forgotten] { try Data("-".utf8).write(to: URL(fileURLWithPath: path)) }
        var watcher: DeathGuard? = newGuard()
        watcher?.writeAtDeath("1", to: kept)
        watcher?.writeAtDeath("0", to: kept)
        watcher?.writeAtDeath("1", to: forgotten)
        watcher?.forgetWrite(to: forgotten)
        watcher?.settle()
        XCTAssertEqual(try String(contentsOfFile: kept, encoding: .utf8), "-", "nothing done while its owner lives")
        watcher = nil
        let deadline = Date().addingTimeInterval(5)
        while (try? String(contentsOfFile: kept, encoding: .utf8)) == "-" && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(try String(contentsOfFile: kept, encoding: .utf8), "0", "the last text asked for the path")
        XCTAssertEqual(try String(contentsOfFile: forgotten, encoding: .utf8), "-", "forgotten, so left alone")
    }
}
