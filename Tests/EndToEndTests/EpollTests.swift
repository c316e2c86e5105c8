import Glibc
import XCTest

/// An epoll loop whose event is pending (and whose message is queued in a
/// socketpair) at dump time goes on after the restore: the interest list
/// is back with its user data, and the pending event is reported once.
final class EpollTests: EndToEndCase {
    func testInterestListAndPendingEventSurviveRestore() throws {
        let fixture = try startFixture("epoll")
        try fixture.waitFor("round", atLeast: 10)

        let (image, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 30, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)

        let json = try XCTUnwrap(readTextFile(try ImageFiles(directory: image, pid: fixture.pid).processFile()))
        XCTAssertTrue(json.contains("\"epoll\""), "the image should hold the epoll interest list")
    }

    /// One epoll instance shared by a parent and its child (inherited by
    /// fork), each of which has closed a descriptor the instance watches
    /// (as redis's save child closes its parent's listening sockets): each
    /// watch must be added again by the process that still holds the
    /// watched file, the child's too, and go on reporting to the parent.
    func testEpollInstanceSharedAfterForkKeepsWatchesOfClosedDescriptors() throws {
        let path = scratch.newPath("listener.sock")
        let parent = try startPython("epoll-fork", """
            import os, select, signal, socket, sys, time
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(sys.argv[1]); listener.listen(8); listener.setblocking(False)
            r, w = os.pipe()
            ep = select.epoll()
            ep.register(listener.fileno(), select.EPOLLIN)
            ep.register(r, select.EPOLLIN | select.EPOLLET)
            listening, reading = listener.fileno(), r
            if os.fork() == 0:
                listener.close()                 # watched still, held by the parent
                signal.signal(signal.SIGUSR1, lambda *a: os.write(w, b"x"))
                n = 0
                while True:
                    n += 1
                    print("child", n, flush=True)
                    time.sleep(0.05)
            os.close(r)                          # watched still, held by the child
            print("ready", flush=True)
            accepted = events = 0
            while True:
                for fd, ev in ep.poll(0.05):
                    if fd == listening:
                        c, _ = listener.accept(); accepted += 1
                        c.sendall(b"hello %d\\n" % accepted); c.close()
                        print("accepted", accepted, flush=True)
                    elif fd == reading:
                        events += 1
                        print("pipe event", events, flush=True)
                    else:
                        print("FAIL: event on fd", fd, flush=True)
            """, [path])
        defer { try? stopTree(parent.pid) }
        try parent.waitFor("child", atLeast: 3)
        let child = try XCTUnwrap(ProcessIdentity.tree(parent.pid).map(\.pid).first { $0 != parent.pid })
        XCTAssertEqual(try greeting(at: path), "hello 1\n")
        try parent.waitFor(line: "accepted 1")
        XCTAssertEqual(kill(child, SIGUSR1), 0)
        try parent.waitFor(line: "pipe event 1")

        let (image, pids) = try checkpointTree(parent)
        XCTAssertEqual(Set(pids), [parent.pid, child])
        let mark = parent.lineCount
        try restore(image, as: parent)
        XCTAssertEqual(try greeting(at: path), "hello 2\n", "the parent's watch on its listener")
        try parent.waitFor(line: "accepted 2", from: mark)
        XCTAssertEqual(kill(child, SIGUSR1), 0)
        try parent.waitFor(line: "pipe event 2", from: mark)
        try parent.waitForMore("child", 5, after: mark)
        assertNoFailures(parent)
    }

    /// A watch whose descriptor no holder of the instance has any more
    /// (closed after a dup kept the file open) cannot be added again by
    /// anyone: the dump refuses, naming the instance and the number.
    func testWatchOutlivingItsDescriptorEverywhereIsRefused() throws {
        let program = try startPython("epoll-orphan-watch", """
            import os, select, time
            r, w = os.pipe()
            kept = os.dup(r)
            ep = select.epoll()
            ep.register(r, select.EPOLLIN)
            os.close(r)
            print("closed", r, flush=True)
            print("ready", flush=True)
            while True:
                ep.poll(0.05)
            """)
        let closed = try XCTUnwrap(program.numbers("closed").first)
        _ = try assertDumpRefused(program, mentioning: ["epoll instance watching fd \(closed)", "outlived its descriptor"])
    }

    private func greeting(at path: String) throws -> String {
        let socket = try TestSocket.unix(path)
        defer { socket.close() }
        return String(decoding: try socket.receive(untilEOF: true, timeout: 5), as: UTF8.self)
    }

    /// A restored process is dumped and restored again: what the first
    /// restore made must itself be a faithful epoll instance.
    func testTwoRoundTrips() throws {
        let fixture = try startFixture("epoll")
        try fixture.waitFor("round", atLeast: 5)
        try roundTrip(fixture)
        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("round", before: mark).last)
        try fixture.waitFor("round", atLeast: last + 20, from: mark)
        assertSequence(fixture, "round", startingAt: 0)
        assertNoFailures(fixture)
    }
}
