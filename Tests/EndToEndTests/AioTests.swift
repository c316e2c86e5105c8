import Glibc
import XCTest

/// Linux AIO (io_setup, io_submit, io_getevents: what libaio gives
/// MariaDB and QEMU). The context's id is its completion ring's address,
/// which the program keeps; completions the kernel had put in the ring and
/// the program had not reaped at the dump are reaped after the restore,
/// with their data, iocb pointers and results.
final class AioTests: EndToEndCase {
    func testContextKeepsItsIdAndUnreapedCompletions() throws {
        let program = try startPython("aio", Self.program, [scratch.newPath("blocks")])
        let context = try XCTUnwrap(program.numbers("context").first)
        XCTAssertEqual(try ringStart(program.pid), UInt64(context))

        let (image, mark) = try roundTrip(program)
        XCTAssertEqual(try ringStart(program.pid), UInt64(context), "the context's id is its ring's address")
        let shown = try crtool(["show", image])
        let line = "AIO context 0x\(String(context, radix: 16)): 255 slots, 3 completions not reaped"
        XCTAssertTrue(shown.succeeded && shown.stdout.contains(line), "show should say \"\(line)\": \(shown)")
        try program.signal(SIGUSR1)
        try program.waitFor(line: "reaped the 3 completions waiting at the dump", from: mark)
        try program.waitFor("tick", atLeast: 5, from: mark)

        // A ring a restore made is dumped and restored like the first.
        let (_, again) = try roundTrip(program)
        XCTAssertEqual(try ringStart(program.pid), UInt64(context))
        try program.waitForMore("tick", 5, after: again)
        assertSequence(program, "tick", startingAt: 1)
        assertNoFailures(program)
    }

    /// A host whose fs.aio-max-nr has no room for the context fails the
    /// restore, naming the context and the setting, with nothing left
    /// running; with room again, the same image restores.
    func testRestoreWithoutRoomForTheContextFailsCleanly() throws {
        let program = try startPython("aio", Self.program, [scratch.newPath("blocks")])
        let context = try XCTUnwrap(program.numbers("context").first)
        let image = try checkpoint(program)
        let limit = "/proc/sys/fs/aio-max-nr"
        let hostLimit = try XCTUnwrap(readTextFile(limit))
        try setSysctlForTest(limit, "0")
        let refused = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(refused.succeeded, "the restore made a context the host has no room for: \(refused)")
        let text = "pid \(program.pid)'s AIO context 0x\(String(context, radix: 16)) needs 126 AIO events, and this host has no room for them (fs.aio-max-nr 0, "
        XCTAssertTrue(refused.stderr.contains(text), "the message should say \"\(text)\": \(refused)")
        XCTAssertFalse(ProcessTable.isAlive(program.pid), "the process runs after a failed restore")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
        try reapAll([program.pid])

        try writeWholeFile(limit, Array(hostLimit.utf8))
        let mark = program.lineCount
        try restore(image, as: program)
        try program.signal(SIGUSR1)
        try program.waitFor(line: "reaped the 3 completions waiting at the dump", from: mark)
        try program.waitFor("tick", atLeast: 3, from: mark)
        assertNoFailures(program)
    }

    private func ringStart(_ pid: pid_t) throws -> UInt64? {
        let maps = try XCTUnwrap(readTextFile("/proc/\(pid)/maps"))
        let line = maps.split(separator: "\n").first { $0.hasSuffix("/[aio] (deleted)") }
        return line.flatMap { UInt64($0.prefix { $0 != "-" }, radix: 16) }
    }

    /// Rounds of reads reaped until the ring's head is two slots short of
    /// its end, then three more submitted and left in the ring, wrapping
    /// round its end, until SIGUSR1; then a round every 50 ms. Every completion is checked:
    /// its data names the round and block, obj is the iocb's address, res
    /// the bytes read, and the buffer holds the block.
    static let program = """
        import ctypes, os, signal, sys, time
        libc = ctypes.CDLL(None, use_errno=True)
        class Iocb(ctypes.Structure):
            _fields_ = [("data", ctypes.c_uint64), ("key", ctypes.c_uint32), ("rw_flags", ctypes.c_uint32),
                        ("opcode", ctypes.c_uint16), ("prio", ctypes.c_int16), ("fd", ctypes.c_uint32),
                        ("buf", ctypes.c_uint64), ("nbytes", ctypes.c_uint64), ("offset", ctypes.c_int64),
                        ("reserved2", ctypes.c_uint64), ("flags", ctypes.c_uint32), ("resfd", ctypes.c_uint32)]
        class Event(ctypes.Structure):
            _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64), ("res", ctypes.c_int64), ("res2", ctypes.c_int64)]
        def check(r, what):
            if r < 0: raise OSError(ctypes.get_errno(), what)
            return r
        with open(sys.argv[1], "wb") as f:
            for block in range(3): f.write(bytes([block + 1]) * 4096)
        fd = os.open(sys.argv[1], os.O_RDONLY)
        ctx = ctypes.c_ulong(0)
        check(libc.syscall(206, 64, ctypes.byref(ctx)), "io_setup")
        context = ctx.value
        buffers = [ctypes.create_string_buffer(4096) for _ in range(3)]
        iocbs = [Iocb() for _ in range(3)]
        events = (Event * 3)()
        def submit(tag, n=3):
            pointers = (ctypes.c_void_p * n)()
            for k in range(n):
                ctypes.memset(buffers[k], 0, 4096)
                iocbs[k] = Iocb(data=tag * 100 + k, opcode=0, fd=fd, buf=ctypes.addressof(buffers[k]), nbytes=4096, offset=4096 * k)
                pointers[k] = ctypes.addressof(iocbs[k])
            check(libc.syscall(209, ctypes.c_ulong(context), n, pointers), "io_submit")
        def reap(tag, n=3):
            got = check(libc.syscall(208, ctypes.c_ulong(context), n, n, events, None), "io_getevents")
            ok = got == n
            for e in events[:got]:
                k = e.data - tag * 100
                ok = ok and 0 <= k < 3 and e.res == 4096 and e.obj == ctypes.addressof(iocbs[k]) and buffers[k].raw == bytes([k + 1]) * 4096
            return ok
        tag = 0
        slots = ctypes.c_uint32.from_address(context + 4).value
        while ctypes.c_uint32.from_address(context + 8).value != slots - 2:
            tag += 1
            n = 2 if ctypes.c_uint32.from_address(context + 8).value + 2 <= slots - 2 else 1
            submit(tag, n)
            if not reap(tag, n): print("FAIL: round", tag, flush=True)
        tag += 1; submit(tag)
        while True:
            tail = ctypes.c_uint32.from_address(context + 12).value
            head = ctypes.c_uint32.from_address(context + 8).value
            if (tail - head) % slots == 3: break
            time.sleep(0.01)
        waiting = [True]
        signal.signal(signal.SIGUSR1, lambda *a: waiting.__setitem__(0, False))
        print("context", context, flush=True)
        print("ready", flush=True)
        while waiting[0]:
            time.sleep(0.05)
        print("reaped the 3 completions waiting at the dump" if reap(tag) else "FAIL: the completions waiting at the dump", flush=True)
        n = 0
        while True:
            tag += 1; n += 1
            submit(tag)
            print("tick", n, "ok" if reap(tag) else "FAIL: round %d" % tag, flush=True)
            time.sleep(0.05)
        """
}
