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
        let (program, fd) = try startAppender(path)
        XCTAssertEqual(unlink(path), 0)
        try program.waitForMore("tick", 2, after: program.lineCount)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        let link = "/proc/\(program.pid)/fd/\(fd)"
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), path.replacingOccurrences(of: "//", with: "/") + " (deleted)")
        let flags = try String(contentsOfFile: "/proc/\(program.pid)/fdinfo/\(fd)", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("flags:") }.flatMap { Int($0.split(separator: "\t").last ?? "", radix: 8) }
        XCTAssertEqual(try XCTUnwrap(flags) & Int(O_ACCMODE | O_APPEND), Int(O_WRONLY | O_APPEND))
        try assertEveryLine(in: link, upTo: program)
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
    /// A program appending to its file, one line a tick, with the file
    /// descriptor it holds printed first.
    /// `mapped`: it also maps the file's first page privately, as a
    /// program reading its own records would.
    private func startAppender(_ path: String, mapped: Bool = false) throws -> (Fixture, fd: Int) {
        let program = try startPython("appender", """
            import mmap, os, sys, time
            mapped = sys.argv[2] == "mapped"
            out = os.open(sys.argv[1], (os.O_RDWR if mapped else os.O_WRONLY) | os.O_APPEND | os.O_CREAT, 0o640)
            print("fd", out, flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                os.write(out, b"line %d\\n" % n)
                if mapped and n == 1:
                    view = mmap.mmap(out, 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
                print("tick", n, flush=True)
                time.sleep(0.02)
            """, [path, mapped ? "mapped" : "plain"])
        let fd = try program.waitFor("fd", atLeast: 0)
        try program.waitFor("tick", atLeast: 3)
        return (program, fd)
    }

    /// The lines of `path` are "line 1" on, each once, in order, up to at
    /// least the program's last tick.
    private func assertEveryLine(in path: String, upTo program: Fixture, line: UInt = #line) throws {
        let last = try XCTUnwrap(program.numbers("tick").last, line: line)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertGreaterThanOrEqual(lines.count, last, "\(path)", line: line)
        XCTAssertEqual(lines, (1...max(lines.count, 1)).map { "line \($0)" }, "\(path)", line: line)
    }

    /// `ln name other; rm name`: the file lives on under `other`, and a
    /// program holding it open sees its name deleted.
    private func relink(_ name: String, as other: String) throws {
        guard link(name, other) == 0, unlink(name) == 0 else {
            throw HarnessError("ln \(name) \(other); rm \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// Forgets the names the kernel has cached, so that a file's handle
    /// no longer leads to a name nobody has open.
    private func dropCachedNames() throws {
        try "2\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
    }

    /// A file deleted under the name the program opened it by but linked
    /// under another (`ln a b; rm a`) is the very file others read there:
    /// the restore reopens it by that name, and what the program writes
    /// after goes on in it, every line once and in order. A copy of its
    /// bytes would have taken the lines away from it.
    func testADeletedFileLinkedElsewhereIsReopenedByItsOtherName() throws {
        try checkReopenedByItsOtherName(mapped: false)
    }

    /// Also when the program maps it privately as well: the mapping is
    /// its own copy, the descriptor the file.
    func testADeletedFileLinkedElsewhereAndMappedPrivatelyIsReopenedByItsOtherName() throws {
        try checkReopenedByItsOtherName(mapped: true)
    }

    private func checkReopenedByItsOtherName(mapped: Bool) throws {
        let dataDir = try scratch.newDirectory("data")
        let otherDir = try scratch.newDirectory("other")
        let (program, fd) = try startAppender(dataDir + "/app.log", mapped: mapped)
        let other = otherDir + "/kept.log"
        try relink(dataDir + "/app.log", as: other)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(program.pid)/fd/\(fd)")
        XCTAssertEqual(target, other.replacingOccurrences(of: "//", with: "/"))
        try assertEveryLine(in: other, upTo: program)
        XCTAssertFalse(fileExists(dataDir + "/app.log"))
        assertNoFailures(program)
    }

    /// With no name cached, the other name is looked for in the deleted
    /// one's directory. A name elsewhere that nothing leads crtool to is
    /// refused, naming the file and how to give it a name; the program
    /// runs on, and once given one as told it is dumped.
    func testTheOtherNameIsLookedForBesideTheDeletedOneAndRefusedOutOfSight() throws {
        let dataDir = try scratch.newDirectory("data")
        let otherDir = try scratch.newDirectory("other")
        let (program, fd) = try startAppender(dataDir + "/app.log")
        let beside = dataDir + "/app.log.1"
        try relink(dataDir + "/app.log", as: beside)
        try dropCachedNames()
        let image = try checkpoint(program, options: ["--leave-running"])
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains(beside.replacingOccurrences(of: "//", with: "/")), "\(shown)")

        let elsewhere = otherDir + "/kept.log"
        try relink(beside, as: elsewhere)
        try dropCachedNames()
        let refused = try crtool(["dump", "-t", "\(program.pid)", "-D", try scratch.newDirectory("refused"), "--leave-running"])
        XCTAssertFalse(refused.succeeded, "\(refused)")
        let advice = "ln -L /proc/\(program.pid)/fd/\(fd) \((dataDir + "/app.log").replacingOccurrences(of: "//", with: "/"))"
        XCTAssertTrue(refused.stderr.contains("lives on under another name crtool cannot find"), "\(refused)")
        XCTAssertTrue(refused.stderr.contains(advice), "\(refused)")
        try program.waitForMore("tick", 3, after: program.lineCount)

        let ln = try runCommand("/bin/sh", ["-c", advice], outputPrefix: scratch.newPath("ln"), timeout: 10)
        XCTAssertTrue(ln.succeeded, "\(ln)")
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        try assertEveryLine(in: elsewhere, upTo: program)
        assertNoFailures(program)
    }
    /// The same for a file mapped shared, closed after mapping: the
    /// mapping is made again from the other name, so what the program
    /// writes into it after the restore is in the file there.
    func testASharedMappingOfAFileLinkedElsewhereIsMadeFromTheOtherName() throws {
        let dataDir = try scratch.newDirectory("data")
        let otherDir = try scratch.newDirectory("other")
        let path = dataDir + "/counter.bin"
        let program = try startPython("mapped-counter", """
            import mmap, os, struct, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
            os.ftruncate(fd, 4096)
            m = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
            os.close(fd)
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                m[0:8] = struct.pack("<Q", n)
                print("tick", n, flush=True)
                time.sleep(0.02)
            """, [path])
        try program.waitFor("tick", atLeast: 3)
        let other = otherDir + "/counter.bin"
        try relink(path, as: other)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        let last = try XCTUnwrap(program.numbers("tick").last)
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: other))
        let stored = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        XCTAssertGreaterThanOrEqual(Int(stored), last, "the file at the other name stopped at \(stored)")
        let maps = try String(contentsOfFile: "/proc/\(program.pid)/maps", encoding: .utf8)
        XCTAssertTrue(maps.contains(other.replacingOccurrences(of: "//", with: "/")), maps)
        assertNoFailures(program)
    }
}
