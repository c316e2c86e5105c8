import XCTest

/// Two processes made by clone with CLONE_FILES or CLONE_FS but without
/// CLONE_THREAD share a descriptor table, or a working directory and root.
/// A restore would give each its own, so the dump refuses them by name and
/// leaves both running untraced.
final class SharedTaskResourceTests: EndToEndCase {
    func testProcessesSharingADescriptorTableAreRefused() throws {
        try assertRefused(flag: 0x400, saying: "share one file descriptor table (CLONE_FILES")
    }

    func testProcessesSharingAWorkingDirectoryAreRefused() throws {
        try assertRefused(flag: 0x200, saying: "share one working directory and root (CLONE_FS")
    }

    private func assertRefused(flag: Int, saying text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let parent = try startPython("clone-sharer", """
            import ctypes, time
            libc = ctypes.CDLL(None, use_errno=True)
            child = libc.syscall(56, \(flag) | 17, 0, 0, 0, 0)   # clone(flag | SIGCHLD)
            if child == 0:
                while True:
                    time.sleep(0.05)
            print("child", child, flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                print("tick", n, flush=True)
                time.sleep(0.05)
            """)
        defer { try? stopTree(parent.pid) }
        let child = try XCTUnwrap(parent.numbers("child").first.map { pid_t($0) }, file: file, line: line)
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(parent.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)", file: file, line: line)
        for expected in [text, "\(parent.pid)", "\(child)"] {
            XCTAssertTrue(result.stderr.contains(expected), "the error should say \"\(expected)\": \(result)", file: file, line: line)
        }
        XCTAssertFalse(fileExists(dir + "/manifest.json"), file: file, line: line)
        assertRunningFree(parent, file: file, line: line)
        XCTAssertEqual(ProcessTable.tracer(of: child), 0, "the child is traced still", file: file, line: line)
        try parent.waitForMore("tick", 3, after: parent.lineCount)
    }
}
