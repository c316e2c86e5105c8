import Foundation
import Glibc
import Ptrace
import XCTest

/// Memory from the hugetlb pool (MAP_HUGETLB | MAP_ANONYMOUS): private
/// memory keeps its pages, shared memory stays shared with the child that
/// inherited it, and both come back on huge pages from the pool.
final class HugePageTests: EndToEndCase {
    static let program = """
        import hashlib, mmap, os, sys, time
        size = 4 << 20
        private = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x40000)  # MAP_HUGETLB
        shared = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | 0x40000)
        for i in range(0, size, 4096):
            private[i:i + 8] = (i * 7).to_bytes(8, "little")
            shared[i + 8:i + 16] = (i * 11).to_bytes(8, "little")
        digest = hashlib.sha256(private[:]).hexdigest()
        if os.fork() == 0:
            n = 0
            while True:                      # the child counts in the shared huge page
                n += 1
                shared[0:8] = n.to_bytes(8, "little")
                time.sleep(0.01)
        print("ready", flush=True)
        n = last = stalled = 0
        while True:
            time.sleep(0.05)
            n += 1
            count = int.from_bytes(shared[0:8], "little")
            # Right after a restore the parent may look before the child
            # has run again: the count must move within four ticks.
            stalled = stalled + 1 if count <= last else 0
            ok = hashlib.sha256(private[:]).hexdigest() == digest and stalled < 4 and shared[4096 + 8:4096 + 16] == (4096 * 11).to_bytes(8, "little")
            last = count
            print("tick", n, "ok" if ok else "FAIL: private pages changed or the child's count stopped", flush=True)
        """

    func testAnonymousHugePagesComeBackFromThePool() throws {
        try reserveHugePages(8)
        let parent = try startPython("hugetlb", Self.program)
        defer { try? stopTree(parent.pid) }
        try parent.waitFor("tick", atLeast: 3)
        let before = hugeMappings(parent.pid)
        XCTAssertEqual(before.count, 2, "two huge-page mappings: \(before)")

        let (image, pids) = try checkpointTree(parent)
        XCTAssertEqual(pids.count, 2)
        let mark = parent.lineCount
        try restore(image, as: parent)
        XCTAssertEqual(hugeMappings(parent.pid), before, "the mappings come back on huge pages, shared and private")
        try parent.waitForMore("tick", 10, after: mark)
        assertSequence(parent, "tick", startingAt: 1)
        assertNoFailures(parent)
    }

    /// A restore on a host whose pool is too small is refused before
    /// anything is made, naming the pool and the pages the image needs, as
    /// the check is; with pages enough it goes ahead. It needs 6: the
    /// shared object's 2, and 2 for each process's private memory (the
    /// child's copy shared its parent's pages until written, but each
    /// process maps its own again, which reserves them).
    func testTooSmallAPoolFailsTheRestoreCleanly() throws {
        try reserveHugePages(8)
        let parent = try startPython("hugetlb", Self.program)
        defer { try? stopTree(parent.pid) }
        try parent.waitFor("tick", atLeast: 2)
        let (image, pids) = try checkpointTree(parent)
        try reapAll(pids)
        for pool in ["0", "5"] {
            try setSysctlForTest("/proc/sys/vm/nr_hugepages", pool)
            try assertRestoreRefused(image, pid: parent.pid, mentioning: [
                "the image's huge-page memory needs 6 huge pages of 2048 kB and the hugetlb pool has \(pool) free (vm.nr_hugepages)",
            ])
            XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
        }
        try reserveHugePages(6)
        let mark = parent.lineCount
        try restore(image, as: parent)
        try parent.waitForMore("tick", 5, after: mark)
        assertNoFailures(parent)
    }

    /// Files of the hugetlb pool: a memfd made with MFD_HUGETLB, mapped
    /// shared with its descriptor closed; another held open and mapped
    /// private, its pages copied on write; a file on a hugetlbfs mount
    /// mapped shared (by path, like any file) and private. Every private
    /// page and every shared byte must be back, on huge pages.
    func testHugetlbfsMemfdsAndFilesComeBack() throws {
        try reserveHugePages(16)
        let mount = try scratch.newDirectory("hugetlbfs")
        guard Glibc.mount("none", mount, "hugetlbfs", 0, nil) == 0 else { throw HarnessError("mount hugetlbfs on \(mount): \(errnoText())") }
        addTeardownBlock { umount2(mount, Int32(MNT_DETACH)) }
        let holder = try startPython("hugetlbfs", """
            import ctypes, hashlib, mmap, os, sys, time
            libc = ctypes.CDLL(None, use_errno=True)
            size = 2 << 20
            def memfd(name):
                fd = libc.memfd_create(name, 0x4 | 0x1)  # MFD_HUGETLB | MFD_CLOEXEC
                os.ftruncate(fd, size)
                return fd
            fd = memfd(b"shared-huge")
            shared = mmap.mmap(fd, size)
            os.close(fd)
            held = memfd(b"held-huge")
            base = mmap.mmap(held, size)
            base[0:5] = b"file!"
            private = mmap.mmap(held, size, flags=mmap.MAP_PRIVATE)
            path = sys.argv[1] + "/file"
            f = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.ftruncate(f, size)
            onfile = mmap.mmap(f, size)
            cow = mmap.mmap(f, size, flags=mmap.MAP_PRIVATE)
            os.close(f)
            for i in range(0, size, 4096):
                shared[i:i + 8] = (i * 3).to_bytes(8, "little")
                private[i + 8:i + 16] = (i * 5).to_bytes(8, "little")
                onfile[i:i + 8] = (i * 13).to_bytes(8, "little")
            for i in range(0, size, 8192):
                cow[i + 16:i + 24] = (i * 17).to_bytes(8, "little")
            def state():
                return [hashlib.sha256(m[:]).hexdigest() for m in (shared, base, private, onfile, cow)]
            expected = state()
            print("ready", flush=True)
            n = 0
            while True:
                time.sleep(0.05)
                n += 1
                now = state()
                print("tick", n, "ok" if now == expected else "FAIL: changed: %s" % [k for k in range(5) if now[k] != expected[k]], flush=True)
            """, [mount])
        defer { try? stopTree(holder.pid) }
        try holder.waitFor("tick", atLeast: 2)
        let before = hugeMappings(holder.pid)
        XCTAssertEqual(before.count, 5, "five huge-page mappings: \(before)")
        let (_, mark) = try roundTrip(holder)
        XCTAssertEqual(hugeMappings(holder.pid), before, "the same mappings, on huge pages")
        try holder.waitForMore("tick", 5, after: mark)
        assertNoFailures(holder)
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(holder.pid)/fd")) ?? []
        XCTAssertTrue(descriptors.contains {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder.pid)/fd/\($0)"))?.hasPrefix("/memfd:held-huge") == true
        }, "the held memfd is open again")
    }

    /// A System V segment on huge pages (SHM_HUGETLB), attached by a
    /// parent and its child and removed while attached: made again on huge
    /// pages with its id and contents, shared by both again. Its last huge
    /// page was never touched and is still not there after the restore.
    func testSysVSegmentOnHugePagesComesBack() throws {
        try reserveHugePages(8)
        let parent = try startPython("sysv-hugetlb", """
            import ctypes, os, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype = ctypes.c_void_p
            size = 4 << 20
            shmid = libc.shmget(0, size + (2 << 20), 0o1000 | 0o4000 | 0o600)  # IPC_CREAT | SHM_HUGETLB
            if shmid < 0:
                print("FAIL: shmget", ctypes.get_errno(), flush=True)
            base = libc.shmat(shmid, None, 0)
            libc.shmctl(shmid, 0, None)  # IPC_RMID: gone once nobody has it attached
            words = (ctypes.c_uint64 * (size // 8)).from_address(base)
            for i in range(0, size // 8, 512):
                words[i + 1] = i * 19
            if os.fork() == 0:
                n = 0
                while True:
                    n += 1
                    words[0] = n
                    time.sleep(0.01)
            print("segment", shmid, flush=True)
            print("ready", flush=True)
            n = last = stalled = 0
            while True:
                time.sleep(0.05)
                n += 1
                # Parent and child are released together after a restore, and
                # the parent may look before the child has run again: the
                # count must move within four ticks.
                stalled = stalled + 1 if words[0] <= last else 0
                ok = stalled < 4 and all(words[i + 1] == i * 19 for i in range(0, size // 8, 512))
                last = words[0]
                print("tick", n, "ok" if ok else "FAIL: the segment changed or the child's count stopped", flush=True)
            """)
        defer { try? stopTree(parent.pid) }
        try parent.waitFor("tick", atLeast: 2)
        let segment = try XCTUnwrap(parent.numbers("segment").first)
        let before = hugeMappings(parent.pid)
        XCTAssertEqual(before.count, 1, "one huge-page mapping: \(before)")
        let residentBefore = try XCTUnwrap(residentBytes(ofSegment: segment))
        let (image, _) = try checkpointTree(parent)
        let mark = parent.lineCount
        try restore(image, as: parent)
        XCTAssertEqual(hugeMappings(parent.pid), before, "the segment is attached again on huge pages")
        XCTAssertTrue(hugeMappings(parent.pid).first?.hasSuffix("/SYSV00000000 (deleted)") == true, "\(hugeMappings(parent.pid))")
        let listed = readTextFile("/proc/sysvipc/shm") ?? ""
        XCTAssertTrue(listed.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first == Substring(String(segment)) }, "segment \(segment) is back:\n\(listed)")
        try parent.waitForMore("tick", 5, after: mark)
        assertNoFailures(parent)
        XCTAssertEqual(residentBytes(ofSegment: segment), residentBefore, "the same huge pages exist, the untouched one not")
    }

    /// A System V segment on huge pages that was not removed outlives the
    /// dumped process and keeps its pages: the restore attaches it as it
    /// is and reserves nothing for it, so a pool with no page left over
    /// is enough, for the check as for the restore.
    func testAKeptSysVSegmentNeedsNoPagesOfThePool() throws {
        try reserveHugePages(3)
        let parent = try startPython("sysv-kept", """
            import ctypes, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype = ctypes.c_void_p
            size = 6 << 20
            shmid = libc.shmget(0, size, 0o1000 | 0o4000 | 0o600)  # IPC_CREAT | SHM_HUGETLB
            if shmid < 0:
                print("FAIL: shmget", ctypes.get_errno(), flush=True)
            words = (ctypes.c_uint64 * (size // 8)).from_address(libc.shmat(shmid, None, 0))
            for i in range(0, size // 8, 512):
                words[i] = i * 23
            print("segment", shmid, flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                time.sleep(0.05)
                n += 1
                ok = all(words[i] == i * 23 for i in range(0, size // 8, 512))
                print("tick", n, "ok" if ok else "FAIL: the segment changed", flush=True)
            """)
        defer { try? stopTree(parent.pid) }
        try parent.waitFor("tick", atLeast: 2)
        let segment = try XCTUnwrap(parent.numbers("segment").first)
        addTeardownBlock { _ = shmctl(Int32(segment), IPC_RMID, nil) }
        let (image, _) = try checkpointTree(parent)
        XCTAssertEqual(HugePages.available(pageSize: 2 << 20), 0, "the kept segment holds the whole pool")

        let check = try crtool(["restore", "-D", image, "--check-only"])
        XCTAssertTrue(check.succeeded, "\(check)")
        let mark = parent.lineCount
        try restore(image, as: parent)
        try parent.waitForMore("tick", 5, after: mark)
        assertNoFailures(parent)
    }

    /// The rss column of /proc/sysvipc/shm for segment `id`.
    private func residentBytes(ofSegment id: Int) -> UInt64? {
        let rows = (readTextFile("/proc/sysvipc/shm") ?? "").split(separator: "\n").map { $0.split(separator: " ") }
        return rows.first { $0.count > 14 && $0[1] == Substring(String(id)) }.flatMap { UInt64($0[14]) }
    }

    /// "start-end perms name" of the process's huge-page mappings.
    private func hugeMappings(_ pid: pid_t) -> [String] {
        let smaps = readTextFile("/proc/\(pid)/smaps") ?? ""
        var header = ""
        var result: [String] = []
        for line in smaps.split(separator: "\n") {
            if line.first?.isHexDigit == true && line.contains("-") && !line.hasPrefix("VmFlags") {
                header = String(line)
            } else if line.hasPrefix("VmFlags:") && line.split(separator: " ").contains("ht") {
                let f = header.split(separator: " ", omittingEmptySubsequences: true)
                result.append("\(f[0]) \(f[1]) \(f.dropFirst(5).joined(separator: " "))")
            }
        }
        return result
    }
}
