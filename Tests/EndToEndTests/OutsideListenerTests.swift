import Glibc
import Ptrace
import XCTest

/// A listener that a process outside the image holds too, as systemd's
/// socket activation or a supervisor passes one to the program it starts:
/// the restore takes the very socket back from that process, so both hold
/// one listener again, and a client that connects while the program is
/// only an image waits in its queue and is answered after the restore.
final class OutsideListenerTests: EndToEndCase {
    func testListenerSharedWithTheSupervisorIsTakenBackFromIt() throws {
        let (supervisor, child) = try startSupervisor(serving: """
            while True:
                conn, _ = listener.accept()
                for line in conn.makefile("r"):
                    conn.sendall(("echo %s from %d\\n" % (line.strip(), os.getpid())).encode())
                conn.close()
            """)
        let port = UInt16(try supervisor.waitFor("port", atLeast: 1))
        defer { try? stopTree(supervisor.pid, others: [child]) }
        let listenerFD = try XCTUnwrap(ProcessTable.socketDescriptors(supervisor.pid).first)

        let first = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        try first.send("one\n")
        XCTAssertEqual(try first.receive(timeout: 10), "echo one from \(child)\n")
        try first.finishSending()
        XCTAssertTrue(poll(timeout: 10, every: 0.02) { (try? ProcessTable.socketDescriptors(child).count) == 1 },
                      "the program closed the connection and waits in accept")

        let dir = try scratch.newDirectory("image")
        let dumped = try crtool(["dump", "-t", "\(child)", "-D", dir])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        try waitUntilFree(child)
        let saved = try String(contentsOfFile: try ImageFiles(directory: dir, pid: child).processFile(), encoding: .utf8)
        XCTAssertTrue(saved.contains("\"heldOutside\" : {"), "the image names the supervisor as the listener's other holder")
        let shown = try crtool(["show", dir]).stdout
        XCTAssertTrue(shown.contains("a listener also held by pid \(supervisor.pid) fd \(listenerFD), outside the image"), shown)

        // The supervisor keeps the listener: a client connecting now waits
        // in its queue.
        let waiting = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        try waiting.send("two\n")
        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertEqual(try waiting.receive(timeout: 20), "echo two from \(child)\n")
        try waiting.finishSending()
        let third = try SocketClient(connectingTo: .inet(host: "127.0.0.1", port: port))
        try third.send("three\n")
        XCTAssertEqual(try third.receive(timeout: 10), "echo three from \(child)\n")

        let restoredFD = try XCTUnwrap(ProcessTable.socketDescriptors(child).first)
        XCTAssertTrue(try KernelCompare.sameFile(supervisor.pid, listenerFD, child, restoredFD), "one listener, held by both again")
    }

    /// The supervisor is gone by the restore: the restore says whose
    /// listener it cannot take back, and leaves nothing behind.
    func testRestoreFailsClearlyWhenTheSupervisorIsGone() throws {
        let (supervisor, child) = try startSupervisor(serving: """
            while True:
                listener.accept()[0].close()
            """)
        defer { try? stopTree(supervisor.pid, others: [child]) }
        let dir = try scratch.newDirectory("image")
        XCTAssertTrue(try crtool(["dump", "-t", "\(child)", "-D", dir]).succeeded)
        try killAndReap(supervisor.pid)
        try waitUntilFree(child)

        let result = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("also held by pid \(supervisor.pid)") && result.stderr.contains("no longer the process that held it"), "\(result)")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
    }

    /// A supervisor that makes a listener, forks the program with it
    /// (`serving`, Python run by the child with `listener` open) and keeps
    /// the listener itself, reaping the program when it dies.
    private func startSupervisor(serving program: String) throws -> (Fixture, pid_t) {
        let supervisor = try startPython("supervisor", """
            import os, signal, socket, sys, time
            \(pythonListener)
            listener = listening()
            child = os.fork()
            if child == 0:
            \(program.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # reaps the child the dump kills
            print("child", child, flush=True)
            while True:
                time.sleep(1)
            """)
        return (supervisor, pid_t(try supervisor.waitFor("child", atLeast: 1)))
    }
}
