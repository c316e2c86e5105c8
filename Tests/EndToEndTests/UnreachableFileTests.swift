import Glibc
import XCTest

/// crtool reopens files by path; a descriptor whose path leads elsewhere
/// (here a POSIX message queue, whose "/name" is a path on the mqueue file
/// system that no path of crtool's reaches), or to a device whose state is
/// the open file's own (a tun interface), is refused at the dump, while
/// the process runs on. The queue used to be dumped, and the restore then
/// failed to open "/name", the process gone; the tun device came back
/// blank, the interface gone.
final class UnreachableFileTests: EndToEndCase {
    func testPosixMessageQueueIsRefused() throws {
        let python = try BuildProducts.requirePython3()
        let name = "/crtool-test-\(getpid())"
        // Its output goes to the scratch directory, which is removed after
        // this block has run.
        let unlinkOutput = scratch.newPath("mq-unlink")
        addTeardownBlock { _ = try? runCommand(python, ["-c", "import ctypes, sys; ctypes.CDLL('librt.so.1').mq_unlink(sys.argv[1].encode())", name],
                                               outputPrefix: unlinkOutput, timeout: 10) }
        let holder = try startPython("mqueue", """
            import ctypes, os, sys, time
            rt = ctypes.CDLL("librt.so.1", use_errno=True)
            fd = rt.mq_open(sys.argv[1].encode(), os.O_CREAT | os.O_RDWR, 0o600, None)
            if fd < 0:
                print("FAIL: mq_open", ctypes.get_errno(), flush=True)
                sys.exit(1)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """, [name])
        try assertDumpRefused(holder, mentioning: ["is \(name), but that path does not lead to the file the process has open"])
        assertNoFailures(holder)
    }

    func testTunDeviceIsRefused() throws {
        let holder = try startPython("tun", """
            import os, time
            fd = os.open("/dev/net/tun", os.O_RDWR)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        try assertDumpRefused(holder, mentioning: ["/dev/net/tun, a device whose open file holds a tun/tap interface"])
        assertNoFailures(holder)
    }

    /// memfd_secret memory is out of reach of every other process: the
    /// dump says so instead of failing on a read it cannot make.
    func testSecretMemoryIsRefused() throws {
        let holder = try startPython("secret", """
            import ctypes, mmap, os, sys, time
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.syscall(447, 0)  # memfd_secret
            if fd < 0:
                print("FAIL: memfd_secret", ctypes.get_errno(), flush=True)
                sys.exit(1)
            os.ftruncate(fd, 4096)
            m = mmap.mmap(fd, 4096)
            m[:6] = b"secret"
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(holder.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("pid \(holder.pid) maps secret memory (memfd_secret)"), "\(result)")
        XCTAssertFalse(fileExists(dir + "/manifest.json"))
        assertRunningFree(holder)
        assertNoFailures(holder)
    }
}
