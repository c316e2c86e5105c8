import XCTest

/// O_PATH descriptors (systemd and container tools hold them to pin a
/// file without opening it): of a symbolic link itself (O_NOFOLLOW), a
/// FIFO, a socket file, a device, a regular file and a directory. Each
/// must come back leading to the same file, of the same type, with the
/// same status flags. The socket file is made anew when the socket is
/// bound again, so its descriptor must pin the file now at its path.
final class PathOnlyDescriptorTests: EndToEndCase {
    func testPathOnlyDescriptorsComeBackPinningTheSameFiles() throws {
        let directory = try scratch.newDirectory("pinned")
        let program = try startPython("o-path", """
            import os, socket, stat, sys, time
            d = sys.argv[1]
            open(d + "/file", "w").write("x")
            os.symlink(d + "/file", d + "/link")
            os.mkfifo(d + "/fifo")
            s = socket.socket(socket.AF_UNIX); s.bind(d + "/sock")
            fds = [os.open(d + "/link", os.O_PATH | os.O_NOFOLLOW), os.open(d + "/fifo", os.O_PATH),
                   os.open(d + "/sock", os.O_PATH), os.open("/dev/null", os.O_PATH),
                   os.open(d + "/file", os.O_PATH), os.open(d, os.O_PATH | os.O_DIRECTORY)]
            def describe(fd):
                flags = [l for l in open("/proc/self/fdinfo/%d" % fd) if l.startswith("flags:")][0].split()[1]
                st = os.fstat(fd)
                target = os.readlink("/proc/self/fd/%d" % fd)
                inode = st.st_ino
                if stat.S_ISSOCK(st.st_mode):
                    # Binding the socket again makes its file anew: the
                    # descriptor must pin the file at the path now.
                    inode = "at-path" if os.lstat(target).st_ino == st.st_ino else "elsewhere"
                return "%s:%s:%o:%s" % (target, flags, stat.S_IFMT(st.st_mode), inode)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, " ".join(describe(fd) for fd in fds), flush=True)
                time.sleep(0.05)
            """, [directory])
        try program.waitFor("tick", atLeast: 2)
        let before = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }?.split(separator: " ").dropFirst(2).joined(separator: " "))
        XCTAssertTrue(before.contains("/link:") && before.contains(":120000:"), "the symbolic link itself is pinned: \(before)")
        XCTAssertTrue(before.contains("/sock:") && before.contains(":140000:at-path"), "the socket file is pinned: \(before)")

        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 2, after: mark)
        let after = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }?.split(separator: " ").dropFirst(2).joined(separator: " "))
        XCTAssertEqual(after, before, "path, flags, type and inode of every O_PATH descriptor")
        assertNoFailures(program)
    }
}
