import Glibc
import XCTest

/// A file deleted while open comes back with its bytes, its offset and
/// still deleted.
final class DeletedFileTests: EndToEndCase {
    func testDeletedFileKeepsItsContentAndStaysDeleted() throws {
        let dataDir = try scratch.newDirectory("data")
        let fixture = try startFixture("deleted", [dataDir])
        try fixture.waitFor("tick", atLeast: 5)
        let (_, mark) = try roundTrip(fixture)
        let last = try XCTUnwrap(fixture.numbers("tick", before: mark).last)
        try fixture.waitFor("tick", atLeast: last + 5, from: mark)
        XCTAssertEqual(fixture.numbers("tick", from: mark).first, last + 1)
        let links = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(fixture.pid)/fd")) ?? []
        let targets = links.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(fixture.pid)/fd/\($0)") }
        XCTAssertTrue(targets.contains { $0.hasSuffix("gone.dat (deleted)") }, "\(targets)")
        XCTAssertFalse(fileExists(dataDir + "/gone.dat"), "the restored file must not be left in the directory")
        try killAndReap(fixture.pid)
        assertNoFailures(fixture)
    }

    /// A file deleted while open and mapped shared by the same process
    /// (the old way to get shared memory with no name) is one file: what
    /// the mapping writes the descriptor reads and the other way round,
    /// after the restore as before.
    func testDeletedFileHeldAndMappedStaysOneFile() throws {
        let path = scratch.newPath("scratchpad.bin")
        let program = try startPython("deleted-mapped", """
            import mmap, os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
            os.ftruncate(fd, 1 << 20)
            view = mmap.mmap(fd, 1 << 20)
            os.unlink(sys.argv[1])
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                view[4096:4104] = b"%08d" % n
                if os.pread(fd, 8, 4096) != b"%08d" % n:
                    print("FAIL: the descriptor reads", os.pread(fd, 8, 4096), "after the mapping wrote", n, flush=True)
                os.pwrite(fd, b"%08d" % (3 * n), 8192)
                if view[8192:8200] != b"%08d" % (3 * n):
                    print("FAIL: the mapping reads", view[8192:8200], "after the descriptor wrote", 3 * n, flush=True)
                print("tick", n, flush=True)
                time.sleep(0.05)
            """, [path])
        try program.waitFor("tick", atLeast: 3)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        assertNoFailures(program)
    }

    /// The same file held by one process and mapped only by its child
    /// (which closed its descriptor): still one file after the restore,
    /// so what the parent writes through its descriptor the child reads
    /// in its mapping, and the answer the child writes there the parent
    /// reads back.
    func testDeletedFileHeldByOneProcessAndMappedByAnotherStaysOneFile() throws {
        let path = scratch.newPath("shared-pad.bin")
        let program = try startPython("deleted-held-mapped-apart", """
            import mmap, os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
            os.ftruncate(fd, 1 << 16)
            if os.fork() == 0:
                view = mmap.mmap(fd, 1 << 16)
                os.close(fd)
                seen = b""
                while True:
                    asked = view[4096:4104]
                    if asked != seen and asked.isdigit():
                        view[8192:8200] = b"%08d" % (3 * int(asked))
                        seen = asked
                    time.sleep(0.005)
            time.sleep(0.2)
            os.unlink(sys.argv[1])
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                os.pwrite(fd, b"%08d" % n, 4096)
                deadline = time.time() + 3
                while os.pread(fd, 8, 8192) != b"%08d" % (3 * n):
                    if time.time() > deadline:
                        print("FAIL: no answer to", n, "in the file; it holds", os.pread(fd, 8, 8192), flush=True)
                        break
                    time.sleep(0.005)
                print("tick", n, flush=True)
                time.sleep(0.05)
            """, [path])
        defer { try? stopTree(program.pid) }
        try program.waitFor("tick", atLeast: 3)
        let (image, _) = try checkpointTree(program)
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 5, after: mark)
        assertNoFailures(program)
    }

    /// A log deleted (as by logrotate) while the program, holding it
    /// write-only for appending, writes on: its lines are read through a
    /// descriptor of crtool's own, and after the restore the program
    /// appends to the same unlinked file, every line once and in order.
    func testWriteOnlyDeletedLogKeepsItsLines() throws {
        let path = scratch.newPath("app.log")
        let program = try startPython("deleted-log", """
            import os, sys, time
            log = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            os.write(log, b"line 1\\n")
            os.unlink(sys.argv[1])
            print("fd", log, flush=True)
            print("ready", flush=True)
            n = 1
            while True:
                n += 1
                os.write(log, b"line %d\\n" % n)
                print("tick", n, flush=True)
                time.sleep(0.02)
            """, [path])
        let fd = try program.waitFor("fd", atLeast: 0)
        try program.waitFor("tick", atLeast: 5)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        let last = try XCTUnwrap(program.numbers("tick").last)
        let link = "/proc/\(program.pid)/fd/\(fd)"
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), path.replacingOccurrences(of: "//", with: "/") + " (deleted)")
        let flags = try String(contentsOfFile: "/proc/\(program.pid)/fdinfo/\(fd)", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("flags:") }.flatMap { Int($0.split(separator: "\t").last ?? "", radix: 8) }
        XCTAssertEqual(try XCTUnwrap(flags) & Int(O_ACCMODE | O_APPEND), Int(O_WRONLY | O_APPEND))
        let lines = try String(contentsOfFile: link, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertGreaterThanOrEqual(lines.count, last)
        XCTAssertEqual(Array(lines.prefix(last)), (1...last).map { "line \($0)" })
        XCTAssertFalse(fileExists(path))
        assertNoFailures(program)
    }

    /// A file made with O_TMPFILE never had a name: it is made again the
    /// same way in the same directory, with its content, offset and the
    /// very status flags it had (O_TMPFILE stays in them).
    func testTmpFileComesBackAsATmpFile() throws {
        let directory = try scratch.newDirectory("tmpfiles")
        let program = try startPython("tmpfile", """
            import os, sys, time
            fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o640)
            os.write(fd, b"never had a name")
            os.lseek(fd, 6, os.SEEK_SET)
            def flags():
                return [l for l in open("/proc/self/fdinfo/%d" % fd) if l.startswith("flags:")][0].split()[1]
            print("flags", flags(), flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                where = os.lseek(fd, 0, os.SEEK_CUR)
                ok = os.pread(fd, 100, 0) == b"never had a name" and where == 6 and os.fstat(fd).st_mode & 0o777 == 0o640
                print("tick", n, "flags", flags(), os.readlink("/proc/self/fd/%d" % fd) if ok else "FAIL: content, offset or mode changed", flush=True)
                time.sleep(0.05)
            """, [directory])
        try program.waitFor("tick", atLeast: 2)
        let flags = try XCTUnwrap(program.log.lines().first { $0.hasPrefix("flags ") }?.dropFirst("flags ".count))
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 3, after: mark)
        for line in program.log.lines().dropFirst(mark) where line.hasPrefix("tick ") {
            let words = line.split(separator: " ")
            XCTAssertEqual(words.count, 6, line)
            XCTAssertEqual(words.count == 6 ? String(words[3]) : "", String(flags), "the status flags after the restore: \(line)")
            let resolved = directory.replacingOccurrences(of: "//", with: "/")
            XCTAssertTrue(line.hasSuffix(" (deleted)") && line.contains(resolved + "/#"), "an unnamed file of the same directory: \(line)")
        }
        assertNoFailures(program)
    }

    /// --ghost-limit, as in CRIU: a deleted file larger than it refuses the
    /// dump (leaving the process running), one within it travels whole.
    func testGhostLimitBoundsTheDeletedFilesTheImageCarries() throws {
        let path = scratch.newPath("ghost.bin")
        let holder = try startPython("ghost-holder", """
            import hashlib, os, sys, time
            path = sys.argv[1]
            data = bytes((i * 7) % 251 for i in range(3 << 20))
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.write(fd, data)
            os.unlink(path)
            digest = hashlib.sha256(data).hexdigest()
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                ok = hashlib.sha256(os.pread(fd, 4 << 20, 0)).hexdigest() == digest
                print("tick", n, "ok" if ok else "FAIL: the deleted file changed", flush=True)
                time.sleep(0.05)
            """, [path])
        try holder.waitFor("tick", atLeast: 2)
        let dir = try scratch.newDirectory("refused")
        let refused = try crtool(["dump", "-t", "\(holder.pid)", "-D", dir, "--ghost-limit", "1M"])
        XCTAssertFalse(refused.succeeded, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("--ghost-limit"), "the refusal should name the option: \(refused)")
        assertRunningFree(holder)

        let (_, mark) = try roundTrip(holder, options: ["--ghost-limit", "4M"])
        try holder.waitForMore("tick", 3, after: mark)
        assertNoFailures(holder)
    }
}
