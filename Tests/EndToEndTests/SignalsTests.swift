import Glibc
import XCTest

/// Handlers, the blocked mask and a pending signal, none of which any
/// register set holds, come back: the pending SIGUSR2 is delivered after
/// the restore exactly once, with the sender it had.
final class SignalsTests: EndToEndCase {
    func testPendingSignalIsDeliveredOnceAfterRestore() throws {
        let signals = try startFixture("signals")
        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 1")
        try signals.signal(SIGUSR2)
        try signals.waitFor(line: "usr2 pending")

        let (_, mark) = try roundTrip(signals)
        // The fixture checks every 20 ms that SIGUSR2 is still pending and
        // every disposition is as installed; give it a few rounds.
        sleepSeconds(0.3)
        assertNoFailures(signals)

        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 2", from: mark)
        try signals.waitFor(line: "usr2 delivered from \(getpid()) code \(SI_USER)", from: mark)
        try signals.signal(SIGUSR1)
        try signals.waitFor(line: "usr1 3", from: mark)
        sleepSeconds(0.2)

        XCTAssertEqual(signals.log.lines().filter { $0.hasPrefix("usr2 delivered") }.count, 1)
        XCTAssertTrue(ProcessTable.isAlive(signals.pid))
        assertNoFailures(signals)
    }

    /// A signal sent to one thread that is not the leader (pthread_kill,
    /// as Go preempts goroutines with SIGURG) and blocked there is pending
    /// for that thread alone, with the tgkill's siginfo. It must come back
    /// pending for that thread, with the same sender and code.
    func testSignalPendingForAnotherThreadComesBackForIt() throws {
        let go = scratch.newPath("go")
        let program = try startPython("thread-signal", """
            import ctypes, os, signal, struct, sys, threading, time
            libc = ctypes.CDLL(None, use_errno=True)
            blocked = threading.Event()
            def waiter():
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
                print("tid", threading.get_native_id(), flush=True)
                blocked.set()
                while not os.path.exists(sys.argv[1]):
                    time.sleep(0.02)
                # rt_sigtimedwait itself: glibc's sigwaitinfo shows SI_TKILL as SI_USER
                raw = ctypes.create_string_buffer(128)
                mask = ctypes.c_uint64(1 << (signal.SIGUSR1 - 1))
                signo = libc.syscall(128, ctypes.byref(mask), raw, None, 8)
                code, sender = struct.unpack_from("i", raw.raw, 8)[0], struct.unpack_from("i", raw.raw, 16)[0]
                print("got", signo, "code", code, "from", sender, flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            t = threading.Thread(target=waiter)
            t.start()
            blocked.wait()
            signal.pthread_kill(t.ident, signal.SIGUSR1)
            print("ready", flush=True)
            t.join()
            print("done", flush=True)
            while True:
                time.sleep(1)
            """, [go])
        let tid = try XCTUnwrap(program.numbers("tid").first)
        let pendingBefore = try XCTUnwrap(statusField("SigPnd", of: "/proc/\(program.pid)/task/\(tid)/status"))
        XCTAssertEqual(pendingBefore, "0000000000000200", "SIGUSR1 pending for thread \(tid) alone")

        let (_, mark) = try roundTrip(program)
        let pendingAfter = statusField("SigPnd", of: "/proc/\(program.pid)/task/\(tid)/status")
        XCTAssertEqual(pendingAfter, pendingBefore, "pending for the same thread after the restore")
        XCTAssertEqual(statusField("ShdPnd", of: "/proc/\(program.pid)/status"), "0000000000000000", "not for the process")
        XCTAssertTrue(FileManager.default.createFile(atPath: go, contents: nil))
        try program.waitFor(line: "got \(SIGUSR1) code \(SI_TKILL) from \(program.pid)", from: mark)
        try program.waitFor(line: "done", from: mark)
        assertNoFailures(program)
    }

    /// A field of a /proc status file ("SigPnd", "ShdPnd"), as written.
    private func statusField(_ name: String, of path: String) -> String? {
        readTextFile(path)?.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }
}
