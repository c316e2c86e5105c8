import Glibc
import XCTest

/// A signal ignored by whoever runs crtool (nohup, a shell trap) must not
/// leak into the restored process: its dispositions are the image's, every
/// other signal's is the default.
final class SignalDispositionTests: EndToEndCase {
    func testSignalIgnoredByTheRestoringShellIsNotIgnoredAfterRestore() throws {
        let counter = try startFixture("counter", ["--heap-mib", "8"])
        try counter.waitFor("tick", atLeast: 3)
        let ignoredBefore = ProcessTable.statusField(counter.pid, "SigIgn")
        let image = try checkpoint(counter)
        let shell = "trap '' HUP; exec \"$0\" restore -D \"$1\" -d"
        let result = try runCommand("/bin/bash", ["-c", shell, BuildProducts.crtool, image],
                                    outputPrefix: scratch.newPath("restore"), timeout: 60)
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertTrue(ProcessTable.isAlive(counter.pid))
        XCTAssertEqual(ProcessTable.statusField(counter.pid, "SigIgn"), ignoredBefore, "ignored signals after restore")
        try counter.signal(SIGHUP)
        XCTAssertTrue(poll(timeout: 5) { !ProcessTable.isAlive(counter.pid) }, "SIGHUP must end the restored counter")
        try? killAndReap(counter.pid)
    }
}
