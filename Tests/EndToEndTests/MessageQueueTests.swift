import Foundation
import Glibc
import Ptrace
import XCTest

/// POSIX message queues (fixtures/python/mqueue.py): a queue held by name
/// and one unlinked come back with their messages, in the order a reader
/// gets them, their sizes and modes, and each descriptor with its own
/// access mode and flags; a queue still there is taken as it is.
final class MessageQueueTests: EndToEndCase {
    /// What the fixture prints for its queues when nothing was taken from
    /// them.
    static let untouched = [
        "queue holds 3 of 8x64 mode 0o660", "queue got urgent 5", "queue got first 1", "queue got second 1",
        "hidden holds 1 of 4x16 mode 0o600", "hidden got secret 2",
    ]

    func testQueuesComeBackWithTheirMessagesInOrder() throws {
        let name = "/crtool-test-\(getpid())-mq"
        addTeardownBlock { try? MessageQueueOps.unlink(name) }
        let program = try startQueues(name)
        // Read while it runs on: the messages are put back as they were.
        _ = try checkpoint(program, options: ["--leave-running"])
        // Restored on this host, the queue still there is taken as it is.
        let first = try checkpoint(program)
        try restore(first, as: program)
        try program.waitForMore("tick", 2, after: program.lineCount)
        // Gone (another host, a reboot): made again from the image.
        let image = try checkpoint(program)
        try MessageQueueOps.unlink(name)
        let mark = try restoreAndWatch(image, as: program, more: 2)
        let said = try queuesRead(by: program, from: mark)
        XCTAssertEqual(Array(said.prefix(Self.untouched.count)), Self.untouched, program.log.tail())
        XCTAssertEqual(said.dropFirst(Self.untouched.count).first, "writer flags 0o" + String(O_WRONLY | O_NONBLOCK | 0o100000, radix: 8))
        let reopened = try MessageQueueOps.open(name, flags: O_RDONLY | O_CLOEXEC)
        defer { close(reopened) }
        XCTAssertEqual(try MessageQueueOps.attributes(reopened).currentMessages, 0, "the queue made again is the one the program read")
    }

    /// A queue of an IPC namespace of the tree's own is made in the
    /// namespace the restore makes, not in crtool's.
    func testAQueueOfAnIPCNamespaceOfItsOwnIsMadeInIt() throws {
        let name = "/crtool-test-\(getpid())-ipcns"
        let program = try startQueues(name, under: ["/usr/bin/unshare", "--ipc"])
        XCTAssertNotEqual(try NamespaceKind.ipc.id(pid: program.pid), try NamespaceKind.ipc.ownID())
        let image = try checkpoint(program)
        let mark = try restoreAndWatch(image, as: program, more: 2)
        XCTAssertNotEqual(try NamespaceKind.ipc.id(pid: program.pid), try NamespaceKind.ipc.ownID())
        XCTAssertThrowsError(try MessageQueueOps.open(name, flags: O_RDONLY | O_CLOEXEC), "the queue was made in crtool's namespace")
        let said = try queuesRead(by: program, from: mark)
        XCTAssertEqual(Array(said.prefix(Self.untouched.count)), Self.untouched, program.log.tail())
    }

    /// A request for notification cannot be read back, and the message put
    /// back would fire it: refused, the queue and the program untouched.
    func testANotificationRequestRefusesTheDump() throws {
        let name = "/crtool-test-\(getpid())-notify"
        addTeardownBlock {
            for suffix in ["", "-notify"] { try? MessageQueueOps.unlink(name + suffix) }
        }
        let program = try startQueues(name, arguments: ["--notify"])
        _ = try assertDumpRefused(program, mentioning: ["the POSIX message queue \(name)-notify", "registered for its notification (mq_notify)"])
        let mark = program.lineCount
        let said = try queuesRead(by: program, from: mark)
        XCTAssertEqual(Array(said.prefix(Self.untouched.count)), Self.untouched, program.log.tail())
    }

    /// A restore that fails after it made a queue by name removes it.
    func testAFailedRestoreRemovesTheQueueItMade() throws {
        let name = "/crtool-test-\(getpid())-failed"
        addTeardownBlock { try? MessageQueueOps.unlink(name) }
        let program = try startQueues(name)
        let image = try checkpoint(program)
        try MessageQueueOps.unlink(name)
        let failed = try crtool(["restore", "-D", image, "-d", "--action-script", "test \"$CRTOOLS_SCRIPT_ACTION\" != post-restore"])
        XCTAssertEqual(failed.status, .exited(1), "\(failed)")
        XCTAssertFalse(ProcessTable.isAlive(program.pid), "\(failed)")
        XCTAssertThrowsError(try MessageQueueOps.open(name, flags: O_RDONLY | O_CLOEXEC), "the queue the failed restore made is left")
        try restoreAndWatch(image, as: program, more: 2)
    }

    /// Has the program read its queues (SIGUSR1) and returns what it said
    /// of them, from line `mark` on.
    private func queuesRead(by program: Fixture, from mark: Int) throws -> [String] {
        try program.signal(SIGUSR1)
        _ = try program.waitFor("writer flags", from: mark) { $0.hasPrefix("writer flags") }
        return program.log.lines().dropFirst(mark).filter { !$0.hasPrefix("tick") }
    }

    private func startQueues(_ name: String, arguments: [String] = [], under wrapper: [String] = []) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        let script = BuildProducts.packageRoot + "/fixtures/python/mqueue.py"
        let command = wrapper + [python, script, name] + arguments
        let program = try startProgram("mqueue", command[0], Array(command.dropFirst()), isReady: { $0 == "ready" })
        addTeardownBlock { [unowned self] in try? self.stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 1)
        return program
    }
}
