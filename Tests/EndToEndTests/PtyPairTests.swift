import Glibc
import XCTest

/// A pseudo-terminal pair inside the tree comes back as the same
/// /dev/pts/N with its modes, the child again a session leader with it as
/// controlling terminal and the foreground group.
final class PtyPairTests: EndToEndCase {
    func testPseudoTerminalPairAndControllingTerminalComeBack() throws {
        let pty = try startFixture("ptypair", [])
        try pty.waitFor("pong", atLeast: 5)
        let before = ProcessIdentity.tree(pty.pid)
        let childTTY = try XCTUnwrap(before.last.flatMap { ttyField($0.pid) })
        let image = try checkpoint(pty)
        for p in before where p.pid != pty.pid {
            _ = try? waitForExit(p.pid, timeout: 5)
            try waitUntilFree(p.pid)
        }
        let mark = pty.lineCount
        let last = try XCTUnwrap(pty.numbers("pong").last)
        try restore(image, as: pty)
        XCTAssertEqual(ProcessIdentity.tree(pty.pid), before)
        try pty.waitFor("pong", atLeast: last + 5, from: mark)
        XCTAssertEqual(before.last.flatMap { ttyField($0.pid) }, childTTY, "controlling terminal and foreground group of the child")
        let after = ProcessIdentity.tree(pty.pid)
        for p in after { Glibc.kill(p.pid, SIGSTOP) }
        for p in after { Glibc.kill(p.pid, SIGKILL) }
        for p in after { try? killAndReap(p.pid) }
        assertNoFailures(pty)
    }

    /// Fields 7 and 8 of /proc/PID/stat: controlling terminal and its foreground group.
    private func ttyField(_ pid: pid_t) -> String? {
        guard let text = readTextFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(after: close)...].split(separator: " ")
        return f.count > 5 ? "\(f[4]) \(f[5])" : nil
    }
}
