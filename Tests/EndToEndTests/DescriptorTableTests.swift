import Foundation
import Ptrace
import XCTest

/// The restore makes a process's descriptors in batches, guessing where
/// each lands from the kernel's lowest-free-number rule. A table full of
/// holes, with every kind made differently (opened inside the process,
/// made by crtool and installed, copied from another descriptor) and
/// close-on-exec mixed, comes back number for number: the same files,
/// flags, positions and sharing, and the program's pipes and socket pairs
/// still connect the same ends.
final class DescriptorTableTests: EndToEndCase {
    func testScatteredDescriptorsComeBackAtTheirNumbers() throws {
        let path = scratch.newPath("table-file")
        let program = try startPython("descriptor-table", """
            import fcntl, os, random, socket, sys, time
            path = sys.argv[1]
            with open(path, "wb") as f:
                f.write(b"y" * 5000)
            random.seed(5)
            # A dense run, where each lands on its own number, then holes.
            numbers = random.sample(range(3, 60), 57) + random.sample(range(60, 700), 150)
            # Hold every number first, so that new descriptors land elsewhere.
            null = fcntl.fcntl(os.open("/dev/null", os.O_RDONLY), fcntl.F_DUPFD, 1000)
            for n in numbers:
                os.dup2(null, n)
            os.close(null)
            def place(fd, cloexec):
                n = numbers.pop()
                assert fd != n
                os.dup2(fd, n, inheritable=not cloexec)
                os.close(fd)
                return n
            files, pipes, pairs = {}, [], []
            while len(numbers) >= 2:
                kind = random.choice(["file", "file", "append", "dir", "pipe", "pair", "dup", "dup"])
                cloexec = random.random() < 0.5
                if kind == "file":
                    fd = os.open(path, os.O_RDWR)
                    at = random.randrange(5000)
                    os.lseek(fd, at, os.SEEK_SET)
                    files[place(fd, cloexec)] = at
                elif kind == "append":
                    place(os.open(path, os.O_WRONLY | os.O_APPEND), cloexec)
                elif kind == "dir":
                    place(os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY), cloexec)
                elif kind == "pipe":
                    r, w = os.pipe()
                    pipes.append((place(r, cloexec), place(w, random.random() < 0.5)))
                elif kind == "pair":
                    a, b = socket.socketpair()
                    pairs.append((place(a.detach(), cloexec), place(b.detach(), random.random() < 0.5)))
                elif files:
                    source = random.choice(list(files))
                    files[place(os.dup(source), cloexec)] = files[source]
            print("ready", flush=True)
            tick = 0
            while True:
                tick += 1
                bad = [fd for fd, at in files.items() if os.lseek(fd, 0, os.SEEK_CUR) != at]
                for r, w in pipes:
                    os.write(w, b"%d" % r)
                    if os.read(r, 16) != b"%d" % r:
                        bad.append(r)
                for a, b in pairs:
                    os.write(a, b"%d" % b)
                    if os.read(b, 16) != b"%d" % b:
                        bad.append(b)
                print("tick", tick, "FAIL: wrong files at %s" % bad[:5] if bad else "ok", flush=True)
                time.sleep(0.1)
            """, [path])
        defer { try? killAndReap(program.pid) }
        try program.waitFor("tick", atLeast: 2)
        let before = try table(of: program.pid)
        XCTAssertGreaterThan(before.count, 150)

        let (_, mark) = try roundTrip(program)
        let next = try program.waitFor("a tick after the restore", from: mark) { $0.hasPrefix("tick ") }
        try program.waitFor("tick", atLeast: (program.numbers("tick", before: mark).last ?? 0) + 3, from: mark)
        assertNoFailures(program)
        XCTAssertTrue(next.line.hasSuffix(" ok"), next.line)

        let after = try table(of: program.pid)
        XCTAssertEqual(Set(after.keys), Set(before.keys), "descriptor numbers")
        // 0-2 are the harness's log, whose position grows with the output.
        for (fd, was) in before.sorted(by: { $0.key < $1.key }) where fd > 2 {
            XCTAssertEqual(after[fd], was, "fd \(fd)")
        }
    }

    /// What a test can compare across a restore for each descriptor: the
    /// file (pipes and sockets by kind alone, their inodes are new), the
    /// flags with O_CLOEXEC, the position, and the lowest descriptor of
    /// the process sharing its open file description.
    private struct Entry: Equatable {
        var file: String
        var flags: Int32
        var position: Int64
        var sharesWith: Int32
    }

    private func table(of pid: Int32) throws -> [Int32: Entry] {
        var entries: [Int32: Entry] = [:]
        var seen: [Int32] = []
        for (fd, link) in try ProcessTable.descriptorLinks(pid).sorted(by: { $0.key < $1.key }) {
            let file = link.hasPrefix("pipe:") || link.hasPrefix("socket:") ? String(link.prefix { $0 != ":" }) : link
            let info = try FdInfo.read(pid: pid, fd: fd)
            let first = try seen.first { try KernelCompare.sameFile(pid, $0, pid, fd) } ?? fd
            if first == fd { seen.append(fd) }
            entries[fd] = Entry(file: file, flags: info.flags, position: info.position, sharesWith: first)
        }
        return entries
    }
}
