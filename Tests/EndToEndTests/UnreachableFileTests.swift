import Glibc
import XCTest

/// crtool reopens files by path; a descriptor whose path leads elsewhere
/// (a file something was mounted over), or to a device whose state is the
/// open file's own (a FUSE connection), is refused at the dump, while the
/// process runs on, rather than come back blank.
final class UnreachableFileTests: EndToEndCase {
    /// A file something was mounted over since it was opened: its path
    /// now leads to another file, or to none.
    func testAFileHiddenByALaterMountIsRefused() throws {
        let directory = try scratch.newDirectory("hidden")
        let path = directory + "/data"
        try writeWholeFile(path, Array("kept\n".utf8))
        let holder = try startPython("hidden", """
            import sys, time
            f = open(sys.argv[1])
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """, [path])
        let mounted = try runCommand("/bin/mount", ["-t", "tmpfs", "none", directory], outputPrefix: scratch.newPath("mount"), timeout: 10)
        XCTAssertTrue(mounted.succeeded, "\(mounted)")
        defer { umount2(directory, Int32(MNT_DETACH)) }
        try assertDumpRefused(holder, mentioning: ["hidden/data, but that path does not lead to the file the process has open"])
        assertNoFailures(holder)
    }

    func testAFUSEDeviceIsRefused() throws {
        let holder = try startPython("fuse", """
            import os, time
            fd = os.open("/dev/fuse", os.O_RDWR)
            print("ready", flush=True)
            while True:
                time.sleep(1)
            """)
        try assertDumpRefused(holder, mentioning: ["/dev/fuse, a device whose open file holds a FUSE file system"])
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
