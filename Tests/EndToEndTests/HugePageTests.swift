import Glibc
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
        n = last = 0
        while True:
            time.sleep(0.05)
            n += 1
            count = int.from_bytes(shared[0:8], "little")
            ok = hashlib.sha256(private[:]).hexdigest() == digest and count > last and shared[4096 + 8:4096 + 16] == (4096 * 11).to_bytes(8, "little")
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

    /// A restore on a host whose pool is too small fails naming the pool,
    /// and leaves nothing running.
    func testTooSmallAPoolFailsTheRestoreCleanly() throws {
        try reserveHugePages(8)
        let parent = try startPython("hugetlb", Self.program)
        defer { try? stopTree(parent.pid) }
        try parent.waitFor("tick", atLeast: 2)
        let (image, pids) = try checkpointTree(parent)
        try setSysctlForTest("/proc/sys/vm/nr_hugepages", "0")
        let refused = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(refused.succeeded, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("huge pages of 2048 kB and the hugetlb pool has 0 free (vm.nr_hugepages)"), "\(refused)")
        XCTAssertEqual(liveProcessesStartedHere(), [], "the failed restore left processes behind")
        try reapAll(pids)
    }

    /// A mapping of a hugetlbfs file (here a memfd made with MFD_HUGETLB,
    /// its descriptor closed) is refused by name; the process runs on.
    func testHugetlbfsFileMappingIsRefused() throws {
        try reserveHugePages(4)
        let holder = try startPython("hugetlbfs", """
            import ctypes, mmap, os, time
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.memfd_create(b"huge", 0x4 | 0x1)  # MFD_HUGETLB | MFD_CLOEXEC
            os.ftruncate(fd, 2 << 20)
            m = mmap.mmap(fd, 2 << 20)
            os.close(fd)
            m[:5] = b"hello"
            print("ready", flush=True)
            n = 0
            while True:
                time.sleep(0.05)
                n += 1
                print("tick", n, "ok" if m[:5] == b"hello" else "FAIL: the page changed", flush=True)
            """)
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(holder.pid)", "-D", dir])
        XCTAssertFalse(result.succeeded, "\(result)")
        XCTAssertTrue(result.stderr.contains("pid \(holder.pid) maps shared huge pages of the hugetlbfs file /memfd:huge (deleted)"), "\(result)")
        XCTAssertFalse(fileExists(dir + "/manifest.json"))
        assertRunningFree(holder)
        try holder.waitFor("tick", atLeast: 3)
        assertNoFailures(holder)
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
