import Foundation
import Glibc
import XCTest

/// Bytes inside a pseudo-terminal pair of the tree, written and not yet
/// read, each way (fixtures/python/ptyqueue.py): complete lines, an
/// end-of-file character and a line being typed for the slave, output for
/// the master. After a restore, and after a dump that leaves the tree
/// running, each side reads each byte once and in order.
final class PtyQueueTests: EndToEndCase {
    private let childReads = ["child read b'first\\n'", "child read b''", "child read b'second\\n'", "child read b'typed\\n'"]

    private func startPair(_ arguments: [String] = []) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        let program = try startProgram("ptyqueue", python, [BuildProducts.packageRoot + "/fixtures/python/ptyqueue.py"] + arguments,
                                       isReady: { $0.hasPrefix("ready") })
        addTeardownBlock { [unowned self] in try? self.stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 2)
        return program
    }

    /// Wakes both sides and returns what each read.
    private func readsAfterWaking(_ program: Fixture) throws -> (child: [String], parent: String) {
        let mark = program.lineCount
        try program.signal(SIGUSR1)
        _ = try program.waitFor(line: "finished", from: mark)
        let lines = program.log.lines().dropFirst(mark)
        assertNoFailures(program)
        return (lines.filter { $0.hasPrefix("child read") },
                try XCTUnwrap(lines.first { $0.hasPrefix("parent read") }))
    }

    func testEachSideReadsWhatWasWaitingAfterTheRestore() throws {
        let program = try startPair()
        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains(", not yet read: 3 lines and 3 bytes by the slave, 22 bytes by the master"), show.stdout)
        let output = Data("from child\r\nunfinished".utf8).base64EncodedString()
        try assertRestoreRefused(try editedCopy(of: image, file: "process-\(program.pid).json", replacing: "\"\(output)\"",
                                                with: "\"\(Data(repeating: 120, count: 5000).base64EncodedString())\""),
                                 pid: program.pid, mentioning: ["process-\(program.pid).json", ".pty.queues.toMaster", "5000 bytes, more than a pty holds"])
        try restoreAndWatch(image, as: program)
        let reads = try readsAfterWaking(program)
        XCTAssertEqual(reads.child, childReads)
        XCTAssertEqual(reads.parent, "parent read b'from child\\r\\nunfinisheddone\\r\\n'")
    }

    func testADumpThatLeavesTheTreeRunningLeavesThemInPlace() throws {
        let program = try startPair()
        _ = try checkpoint(program, options: ["--leave-running"])
        _ = try checkpoint(program, options: ["--leave-running"])
        let reads = try readsAfterWaking(program)
        XCTAssertEqual(reads.child, childReads)
        XCTAssertEqual(reads.parent, "parent read b'from child\\r\\nunfinisheddone\\r\\n'")
    }

    /// More output than the master's line discipline holds, which its
    /// reader never reads: the dump lets the tree run and tries again, then
    /// refuses, naming the pty, and every byte is still there.
    func testAFullPtyWhoseReaderDoesNotReadRefusesTheDumpAndLosesNothing() throws {
        let program = try startPair(["full"])
        let message = try assertDumpRefused(program, mentioning: ["is the master of pty", "whose master has not read a full line discipline", "tried "])
        XCTAssertTrue(message.contains("fd "), message)
        let reads = try readsAfterWaking(program)
        XCTAssertEqual(reads.child, childReads)
        XCTAssertEqual(reads.parent, "parent read b'" + String(repeating: "x", count: 6000) + "from child\\r\\nunfinisheddone\\r\\n'")
    }
}
