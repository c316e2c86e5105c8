@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// What the dump can know of an AIO context: the ring, read like memory,
/// and a request in flight only when it completes into the ring while the
/// dump runs, which must fail the dump rather than lose the request.
final class AioRingReaderTests: XCTestCase {
    /// A process with one aio poll request (IOCB_CMD_POLL) in flight on
    /// the read end of a pipe it holds; prints the write end's number.
    static let program = """
        import ctypes, os, struct, time
        libc = ctypes.CDLL(None, use_errno=True)
        r, w = os.pipe()
        ctx = ctypes.c_ulong(0)
        assert libc.syscall(206, 8, ctypes.byref(ctx)) == 0
        # struct iocb: data 7, IOCB_CMD_POLL (5) on the read end for POLLIN (1)
        iocb = ctypes.create_string_buffer(struct.pack("<QIIHhIQQqQII", 7, 0, 0, 5, 0, r, 1, 0, 0, 0, 0, 0))
        pointers = (ctypes.c_void_p * 1)(ctypes.addressof(iocb))
        assert libc.syscall(209, ctypes.c_ulong(ctx.value), 1, pointers) == 1
        print(w, flush=True)
        while True:
            time.sleep(1)
        """

    func testACompletionDuringTheDumpIsCaught() throws {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-E", "-c", Self.program]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        defer { python.terminate(); python.waitUntilExit() }
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let writeEnd = try XCTUnwrap(Int32(line.trimmingCharacters(in: .whitespacesAndNewlines)), line)
        let pid = python.processIdentifier

        let entry = try XCTUnwrap(try Maps.read(pid: pid).first { $0.path == AioRingLayout.mapName })
        var vma = try VMAClassifier.images(of: [entry], pid: pid)[0]
        XCTAssertEqual(vma.kind, .aioRing)
        let memory = RemoteMemory(pid: pid)
        vma.aioRing = try AioRingReader.read(vma, memory: memory, pid: pid)
        let ring = try XCTUnwrap(vma.aioRing)
        XCTAssertEqual(ring.slots, 127, "io_setup(8) on a host with few CPUs makes a one-page ring")
        XCTAssertEqual(ring.completedCount, 0)
        XCTAssertNoThrow(try AioRingReader.requireTailUnmoved(vma, memory: memory, pid: pid), "nothing has completed yet")

        // The poll request completes once the pipe has a byte, without the
        // process running: as a request in flight at a freeze would.
        let pipe = open("/proc/\(pid)/fd/\(writeEnd)", O_WRONLY)
        XCTAssertGreaterThanOrEqual(pipe, 0)
        defer { close(pipe) }
        XCTAssertEqual(write(pipe, "x", 1), 1)
        var caught: Error?
        for _ in 0..<200 where caught == nil {
            do { try AioRingReader.requireTailUnmoved(vma, memory: memory, pid: pid) } catch { caught = error }
            usleep(10_000)
        }
        let message = "\(try XCTUnwrap(caught, "the completion did not show"))"
        XCTAssertTrue(message.contains("pid \(pid)'s AIO context 0x\(String(vma.start, radix: 16)) had requests in flight: 1 completed during the dump"), message)
    }
}
