import Foundation
import Ptrace
import XCTest

/// Descriptors that share an open file description (dup, fork) share it
/// again after the restore, and those that do not stay apart, however
/// many descriptions one file has: 300 opens of one file, 300 dups of
/// them in random order, a child holding them all too. Each description
/// gets its own position every tick; every descriptor of it must read it.
final class SharedDescriptionTests: EndToEndCase {
    func testManyDescriptionsOfOneFileKeepTheirSharing() throws {
        let path = scratch.newPath("one-file")
        let program = try startPython("shared-descriptions", """
            import os, random, sys, time
            with open(sys.argv[1], "wb") as f:
                f.write(b"x" * 1000)
            random.seed(7)
            groups = [[os.open(sys.argv[1], os.O_RDONLY)] for _ in range(300)]
            for _ in range(300):
                g = random.choice(groups)
                g.append(os.dup(g[0]))
            # Both hold every descriptor; each moves only its own half.
            role = "parent"
            if os.fork() == 0:
                role = "child"
                groups = groups[150:]
            else:
                groups = groups[:150]
            print("ready", flush=True)
            tick = 0
            while True:
                tick += 1
                for i, g in enumerate(groups):
                    os.lseek(random.choice(g), (i + tick) % 1000, os.SEEK_SET)
                mixed = [(i, fd) for i, g in enumerate(groups) for fd in g if os.lseek(fd, 0, os.SEEK_CUR) != (i + tick) % 1000]
                print(role, "tick", tick, "FAIL: descriptions mixed up at %s" % mixed[:3] if mixed else "ok", flush=True)
                time.sleep(0.1 if role == "parent" else 0.15)
            """, [path])
        defer { try? stopTree(program.pid) }
        try program.waitFor("a child's tick") { $0.hasPrefix("child tick") }
        let (image, pids) = try checkpointTree(program)
        XCTAssertEqual(pids.count, 2)
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitFor("parent ticks after the restore", from: mark) { $0.hasPrefix("parent tick") }
        try program.waitFor("child ticks after the restore", from: mark) { $0.hasPrefix("child tick") }
        assertNoFailures(program)

        // The child's descriptors are the parent's, description for description.
        let child = try XCTUnwrap(ProcessTable.children(of: program.pid).first)
        let resolved = path.replacingOccurrences(of: "//", with: "/")
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(program.pid)/fd").compactMap(Int32.init)
            .filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(program.pid)/fd/\($0)")) == resolved }
        XCTAssertEqual(fds.count, 600)
        for fd in fds { XCTAssertTrue(try KernelCompare.sameFile(program.pid, fd, child, fd), "fd \(fd)") }
    }
}
