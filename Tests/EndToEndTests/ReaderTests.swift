import XCTest

/// A process blocked reading its terminal goes on reading the same terminal.
final class ReaderTests: EndToEndCase {
    func testBlockedReadOnPtyGetsLinesWrittenAfterRestore() throws {
        let pty = try PseudoTerminal()
        addTeardownBlock { pty.close() }
        let reader = try startFixture("reader", stdin: .descriptor(pty.slave))
        pty.closeSlave()
        try pty.send("before the dump\n")
        try reader.waitFor(line: "got before the dump")

        let (_, mark) = try roundTrip(reader)
        try pty.send("after the restore\n")
        try reader.waitFor(line: "got after the restore", from: mark)
        try pty.send("and once more\n")
        try reader.waitFor(line: "got and once more", from: mark)

        let got = reader.log.lines().filter { $0.hasPrefix("got ") }
        XCTAssertEqual(got, ["got before the dump", "got after the restore", "got and once more"])
        assertNoFailures(reader)
    }
}
