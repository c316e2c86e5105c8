import Foundation
import Glibc
import Ptrace
import XCTest

/// The parsers on this test process's own /proc files, checked against
/// facts the test establishes itself.
final class ProcSelfTests: XCTestCase {
    let page = 4096
    var scratchDirectory: String!

    override func setUpWithError() throws {
        var template = Array("/tmp/ptrace-tests dir.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Expectation(description: "mkdtemp failed") }
        scratchDirectory = String(cString: made)
    }

    override func tearDownWithError() throws {
        if let dir = scratchDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Three PROT_NONE pages whose middle one gets `protection`, so the
    /// middle VMA cannot merge with anything around it.
    func guardedPage(protection: Int32) throws -> UInt64 {
        guard let base = mmap(nil, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            throw Expectation(description: "mmap: \(String(cString: strerror(errno)))")
        }
        let baseAddress = base
        let size = 3 * page
        addTeardownBlock { munmap(baseAddress, size) }
        let middle = base + page
        XCTAssertEqual(mprotect(middle, page, protection), 0)
        return UInt64(UInt(bitPattern: middle))
    }

    func entry(containing address: UInt64, in maps: [MapEntry]) -> MapEntry? {
        maps.first { $0.start <= address && address < $0.end }
    }

    // MARK: maps and smaps

    func testMapsShowsAMappingJustMadeWithItsProtection() throws {
        let ro = try guardedPage(protection: PROT_READ)
        let rw = try guardedPage(protection: PROT_READ | PROT_WRITE)
        let rx = try guardedPage(protection: PROT_READ | PROT_EXEC)
        let maps = try Maps.read(pid: getpid())
        for (address, protection) in [(ro, "r--p"), (rw, "rw-p"), (rx, "r-xp")] {
            let e = try XCTUnwrap(entry(containing: address, in: maps), protection)
            XCTAssertEqual(e.start, address)
            XCTAssertEqual(e.end, address + UInt64(page))
            XCTAssertEqual(e.protectionString, protection)
            XCTAssertNil(e.path)
            XCTAssertEqual(e.inode, 0)
            XCTAssertEqual(e.offset, 0)
            XCTAssertFalse(e.isFileBacked)
            let below = try XCTUnwrap(entry(containing: address - 1, in: maps))
            XCTAssertEqual(below.protectionString, "---p")
            XCTAssertEqual(below.end, address)
        }
    }

    func testMapsAgreesWithTheKernelAboutTheWholeAddressSpace() throws {
        let maps = try Maps.read(pid: getpid())
        let raw = try ProcFile.text("/proc/self/maps")
        XCTAssertEqual(maps.count, raw.split(separator: "\n").count)
        for (a, b) in zip(maps, maps.dropFirst()) {
            XCTAssertLessThanOrEqual(a.end, b.start, "entries are sorted and disjoint")
        }
        let vdso = try XCTUnwrap(maps.first { $0.path == "[vdso]" })
        let auxv = try Auxv.read(pid: getpid())
        XCTAssertTrue(stride(from: 0, to: auxv.count - 1, by: 2).contains { auxv[$0] == 33 && auxv[$0 + 1] == vdso.start },
                      "AT_SYSINFO_EHDR names the vDSO")
        XCTAssertTrue(vdso.isSpecial && vdso.execute && !vdso.write)
        let stack = try XCTUnwrap(maps.first { $0.path == "[stack]" })
        var local = 0
        let here = withUnsafeMutablePointer(to: &local) { UInt64(UInt(bitPattern: $0)) }
        // This test may run on a secondary thread whose stack is an ordinary mapping.
        if Tracee.callingThreadID == getpid() {
            XCTAssertTrue(stack.start <= here && here < stack.end)
        }
        let exe = try ProcFile.link("/proc/self/exe")
        XCTAssertTrue(maps.contains { $0.path == exe && $0.execute && $0.isFileBacked }, "the executable's text is mapped")
    }

    func testFileMappingWithSpacesThenDeleted() throws {
        let path = scratchDirectory + "/mapped file (one).bin"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(ftruncate(fd, off_t(4 * page)), 0)
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        guard let p = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(page)), p != MAP_FAILED else {
            return XCTFail("mmap of \(path): \(String(cString: strerror(errno)))")
        }
        defer { munmap(p, 2 * page) }
        let address = UInt64(UInt(bitPattern: p))

        let e = try XCTUnwrap(entry(containing: address, in: try Maps.read(pid: getpid())))
        XCTAssertEqual(e.path, path)
        XCTAssertEqual(e.start, address)
        XCTAssertEqual(e.pageCount, 2)
        XCTAssertEqual(e.offset, UInt64(page))
        XCTAssertEqual(e.inode, UInt64(st.st_ino))
        XCTAssertEqual(e.device, deviceText(UInt64(st.st_dev)))
        XCTAssertEqual(e.protectionString, "rw-s")
        XCTAssertTrue(e.isFileBacked)
        XCTAssertFalse(e.isDeleted)

        XCTAssertEqual(unlink(path), 0)
        let gone = try XCTUnwrap(entry(containing: address, in: try Maps.read(pid: getpid())))
        XCTAssertEqual(gone.path, path + " (deleted)")
        XCTAssertTrue(gone.isDeleted)
        XCTAssertEqual(gone.inode, UInt64(st.st_ino))
    }

    func testMemfdMapping() throws {
        let fd = memfdCreate("crtool test ring")
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(ftruncate(fd, off_t(page)), 0)
        guard let p = mmap(nil, page, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            return XCTFail("mmap memfd: \(String(cString: strerror(errno)))")
        }
        defer { munmap(p, page) }
        let e = try XCTUnwrap(entry(containing: UInt64(UInt(bitPattern: p)), in: try Maps.read(pid: getpid())))
        XCTAssertEqual(e.path, "/memfd:crtool test ring (deleted)")
        XCTAssertTrue(e.isDeleted)
        XCTAssertTrue(e.shared)
        XCTAssertTrue(e.isFileBacked)
    }

    /// mapsWithDetails takes its entries from smaps' VMA headers: for a
    /// process whose mappings hold still (a sleep), they are the entries
    /// maps gives, field by field.
    func testSmapsHeadersGiveTheEntriesOfMaps() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer { sleeper.terminate(); sleeper.waitUntilExit() }
        let pid = sleeper.processIdentifier
        let deadline = Date().addingTimeInterval(5)
        while (try? Maps.read(pid: pid))?.contains(where: { $0.path?.hasSuffix("/sleep") ?? false }) != true {
            XCTAssertLessThan(Date(), deadline, "sleep never showed its binary in maps")
            usleep(10_000)
        }
        usleep(50_000)
        let fromSmaps = try Smaps.mapsWithDetails(pid: pid).0
        let fromMaps = try Maps.read(pid: pid)
        XCTAssertGreaterThan(fromMaps.count, 5)
        XCTAssertEqual(fromSmaps.map { e -> MapEntry in var plain = e; plain.flags = []; return plain }, fromMaps)
        XCTAssertTrue(fromSmaps.allSatisfy { !$0.flags.isEmpty }, "every entry has its VmFlags")
    }

    func testSmapsFlagsAndResidencyOfAKnownMapping() throws {
        let address = try guardedPage(protection: PROT_READ | PROT_WRITE)
        let pointer = UnsafeMutableRawPointer(bitPattern: UInt(address))!
        XCTAssertEqual(madvise(pointer, page, MADV_DONTFORK), 0)
        pointer.storeBytes(of: 0x5a, as: UInt8.self)

        let (maps, details) = try Smaps.mapsWithDetails(pid: getpid())
        XCTAssertEqual(Set(maps.map(\.start)), Set(details.keys), "smaps and maps list the same VMAs")
        let e = try XCTUnwrap(entry(containing: address, in: maps))
        XCTAssertEqual(e.start, address)
        XCTAssertTrue(e.flags.contains("rd"), "\(e.flags)")
        XCTAssertTrue(e.flags.contains("wr"), "\(e.flags)")
        XCTAssertTrue(e.flags.contains("dc"), "MADV_DONTFORK shows as dc: \(e.flags)")
        XCTAssertFalse(e.flags.contains("ex"), "\(e.flags)")
        XCTAssertEqual(details[address]?.residentKiB, 4)
        XCTAssertEqual(details[address]?.swapKiB, 0)
        let guardPage = try XCTUnwrap(details[address - UInt64(page)])
        XCTAssertEqual(guardPage.residentKiB, 0)
        XCTAssertFalse(guardPage.flags.contains("rd"))
        if let stack = maps.first(where: { $0.path == "[stack]" }) {
            XCTAssertTrue(stack.flags.contains("gd"), "the main stack grows down: \(stack.flags)")
        }
    }

    // MARK: pagemap

    func testPagemapSeesWhichPagesExist() throws {
        guard let p = mmap(nil, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return XCTFail("mmap")
        }
        defer { munmap(p, 4 * page) }
        p.storeBytes(of: 1, as: UInt8.self)
        (p + 2 * page).storeBytes(of: 1, as: UInt8.self)
        let entries = try Pagemap(pid: getpid()).entries(at: UInt64(UInt(bitPattern: p)), count: 4)
        XCTAssertEqual(entries.count, 4)
        XCTAssertNotEqual(entries[0] & Pagemap.present, 0)
        XCTAssertEqual(entries[1], 0, "an untouched anonymous page does not exist")
        XCTAssertNotEqual(entries[2] & Pagemap.present, 0)
        XCTAssertEqual(entries[3], 0)
        XCTAssertEqual(entries[0] & Pagemap.swapped, 0)
        XCTAssertEqual(entries[0] & Pagemap.fileOrSharedAnon, 0)
        XCTAssertNotEqual(entries[0] & Pagemap.exclusive, 0)
    }

    func testPagemapMarksSharedMemory() throws {
        guard let p = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return XCTFail("mmap")
        }
        defer { munmap(p, page) }
        p.storeBytes(of: 1, as: UInt8.self)
        let entry = try Pagemap(pid: getpid()).entries(at: UInt64(UInt(bitPattern: p)), count: 1)[0]
        XCTAssertNotEqual(entry & Pagemap.present, 0)
        XCTAssertNotEqual(entry & Pagemap.fileOrSharedAnon, 0)
    }

    func testPagemapOfAMissingProcess() {
        XCTAssertThrowsError(try Pagemap(pid: -5)) { XCTAssertEqual(($0 as? SystemError)?.errno, ENOENT) }
    }

    // MARK: stat and status

    func testStatOfSelf() throws {
        let s = try ProcStat.read(pid: getpid())
        XCTAssertEqual(s.pid, getpid())
        XCTAssertEqual(s.ppid, getppid())
        XCTAssertEqual(s.pgid, getpgrp())
        XCTAssertEqual(s.sid, getsid(0))
        XCTAssertEqual(s.state, "R", "a process reading its own stat is running")
        let comm = try ProcFile.text("/proc/self/comm").trimmingCharacters(in: .newlines)
        XCTAssertEqual(s.command, comm)
        XCTAssertFalse(s.isKernelThread)

        // The argument and environment areas are where the kernel says.
        let memory = RemoteMemory(pid: getpid())
        let cmdline = try ProcFile.read("/proc/self/cmdline")
        XCTAssertEqual(s.argEnd - s.argStart, UInt64(cmdline.count))
        XCTAssertEqual(try memory.read(at: s.argStart, count: Int(s.argEnd - s.argStart)), cmdline)
        let environment = try ProcFile.read("/proc/self/environ")
        XCTAssertEqual(try memory.read(at: s.envStart, count: Int(s.envEnd - s.envStart)), environment)

        let maps = try Maps.read(pid: getpid())
        XCTAssertEqual(entry(containing: s.startStack, in: maps)?.path, "[stack]")
        let text = try XCTUnwrap(entry(containing: s.startCode, in: maps))
        XCTAssertTrue(text.execute)
        XCTAssertLessThanOrEqual(s.endCode, text.end)
        XCTAssertLessThan(s.startCode, s.endCode)
        XCTAssertLessThanOrEqual(s.startData, s.endData)
    }

    func testStatusOfSelf() throws {
        let oldMask = umask(0o027)
        let s: ProcStatus
        do {
            defer { umask(oldMask) }
            s = try ProcStatus.read(pid: getpid())
        }
        XCTAssertEqual(s.umask, 0o027)
        XCTAssertEqual(s.tgid, getpid())
        XCTAssertEqual(s.pid, getpid())
        XCTAssertEqual(s.ppid, getppid())
        XCTAssertEqual(s.uids.count, 4)
        XCTAssertEqual(s.uids[0], getuid())
        XCTAssertEqual(s.uids[1], geteuid())
        XCTAssertEqual(s.gids[0], getgid())
        XCTAssertEqual(s.gids[1], getegid())
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(count))
        XCTAssertEqual(getgroups(count, &groups), count)
        XCTAssertEqual(s.groups.sorted(), groups.sorted())
        XCTAssertTrue(s.state.hasPrefix("R"), s.state)
        let comm = try ProcFile.text("/proc/self/comm").trimmingCharacters(in: .newlines)
        XCTAssertEqual(s.name, comm)
        XCTAssertEqual(s.fields["TracerPid"], "0")
        XCTAssertEqual(s.tracerPid, 0)
        XCTAssertEqual(s.seccompMode, Int(try XCTUnwrap(s.fields["Seccomp"]))!)
    }

    func testStatusOfThisThreadShowsItsSignalMaskAndIgnoredSignals() throws {
        var block = sigset_t(), old = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGUSR2)
        XCTAssertEqual(pthread_sigmask(SIG_BLOCK, &block, &old), 0)
        let previous = signal(SIGWINCH, SIG_IGN)
        let s: ProcStatus
        do {
            defer {
                pthread_sigmask(SIG_SETMASK, &old, nil)
                signal(SIGWINCH, previous)
            }
            s = try ProcStatus.read(pid: getpid(), tid: Tracee.callingThreadID)
        }
        XCTAssertEqual(s.pid, Tracee.callingThreadID)
        XCTAssertEqual(s.tgid, getpid())
        XCTAssertNotEqual(s.signalsBlocked & (1 << UInt64(SIGUSR2 - 1)), 0)
        XCTAssertNotEqual(s.signalsIgnored & (1 << UInt64(SIGWINCH - 1)), 0)
        let after = try ProcStatus.read(pid: getpid(), tid: Tracee.callingThreadID)
        XCTAssertEqual(after.signalsBlocked & (1 << UInt64(SIGUSR2 - 1)), sigismember(&old, SIGUSR2) == 1 ? 1 << UInt64(SIGUSR2 - 1) : 0)
    }

    func testThreadCountFollowsANewThread() throws {
        let started = DispatchSemaphore(value: 0)
        let finish = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        final class TidBox: @unchecked Sendable { var tid: pid_t = 0 }
        let box = TidBox()
        let before = try ProcDirectory.threads(pid: getpid())
        let thread = Thread {
            box.tid = Tracee.callingThreadID
            started.signal()
            finish.wait()
            finished.signal()
        }
        thread.start()
        started.wait()
        defer {
            finish.signal()
            finished.wait()
        }
        let after = try ProcDirectory.threads(pid: getpid())
        XCTAssertTrue(after.contains(box.tid))
        XCTAssertFalse(before.contains(box.tid))
        XCTAssertTrue(after.contains(Tracee.callingThreadID))
        XCTAssertTrue(after.contains(getpid()))
        XCTAssertEqual(after, after.sorted())
        XCTAssertEqual(try ProcStatus.read(pid: getpid(), tid: box.tid).pid, box.tid)

        // Other threads of the test runner may come and go: compare counts
        // taken while the directory listing stayed the same.
        try waitUntil("a stable thread count") {
            let listed = try ProcDirectory.threads(pid: getpid())
            let stat = try ProcStat.read(pid: getpid())
            let status = try ProcStatus.read(pid: getpid())
            let again = try ProcDirectory.threads(pid: getpid())
            guard listed == again else { return false }
            XCTAssertEqual(stat.threads, listed.count)
            XCTAssertEqual(status.threads, listed.count)
            return true
        }
    }

    // MARK: limits, fd, auxv, children

    func testLimitsOfSelfMatchGetrlimit() throws {
        let limits = try Limits.read(pid: getpid())
        XCTAssertEqual(limits.map(\.resource), Array(0..<16))
        for limit in limits {
            var rl = rlimit()
            XCTAssertEqual(getrlimit(__rlimit_resource_t(UInt32(limit.resource)), &rl), 0)
            XCTAssertEqual(limit.soft, UInt64(rl.rlim_cur), limit.name)
            XCTAssertEqual(limit.hard, UInt64(rl.rlim_max), limit.name)
        }
    }

    func testFdInfoOfAFileOpenedWithAppendAtAKnownOffset() throws {
        let path = scratchDirectory + "/append log.txt"
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(write(fd, "0123456789", 10), 10)
        XCTAssertEqual(lseek(fd, 3, SEEK_SET), 3)
        let plain = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(plain, 0)
        defer { close(plain) }

        let info = try FdInfo.read(pid: getpid(), fd: fd)
        XCTAssertEqual(info.position, 3)
        XCTAssertNotEqual(info.flags & O_APPEND, 0)
        XCTAssertNotEqual(info.flags & O_CLOEXEC, 0)
        XCTAssertEqual(info.flags & O_ACCMODE, O_RDWR)
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        XCTAssertEqual(info.fields["ino"], String(st.st_ino))
        XCTAssertEqual(UInt64(info.mountID), try XCTUnwrap(mountID(of: fd)))

        let other = try FdInfo.read(pid: getpid(), fd: plain)
        XCTAssertEqual(other.position, 0)
        XCTAssertEqual(other.flags & O_APPEND, 0)
        XCTAssertEqual(other.flags & O_CLOEXEC, 0)
        XCTAssertEqual(other.flags & O_ACCMODE, O_RDONLY)

        let fds = try ProcDirectory.fileDescriptors(pid: getpid())
        XCTAssertTrue(fds.contains(fd) && fds.contains(plain))
        XCTAssertEqual(fds, fds.sorted())
        XCTAssertEqual(try ProcFile.link("/proc/self/fd/\(fd)"), path)
    }

    func testAuxvOfSelf() throws {
        let words = try Auxv.read(pid: getpid())
        XCTAssertEqual(words.count % 2, 0)
        var vector: [UInt64: UInt64] = [:]
        for i in stride(from: 0, to: words.count, by: 2) where vector[words[i]] == nil {
            vector[words[i]] = words[i + 1]
        }
        XCTAssertEqual(Array(words.suffix(2)), [0, 0], "ends with AT_NULL")
        XCTAssertEqual(vector[6], UInt64(sysconf(Int32(_SC_PAGESIZE))), "AT_PAGESZ")
        XCTAssertEqual(vector[11], UInt64(getuid()), "AT_UID")
        XCTAssertEqual(vector[12], UInt64(geteuid()), "AT_EUID")
        XCTAssertEqual(vector[13], UInt64(getgid()), "AT_GID")
        XCTAssertEqual(vector[14], UInt64(getegid()), "AT_EGID")
        let maps = try Maps.read(pid: getpid())
        let exe = try ProcFile.link("/proc/self/exe")
        for type: UInt64 in [3, 9] { // AT_PHDR, AT_ENTRY
            let address = try XCTUnwrap(vector[type], "type \(type)")
            XCTAssertEqual(entry(containing: address, in: maps)?.path, exe, "type \(type)")
        }
        XCTAssertEqual(entry(containing: try XCTUnwrap(vector[9]), in: maps)?.execute, true, "AT_ENTRY is code")
        let random = try XCTUnwrap(vector[25], "AT_RANDOM")
        XCTAssertEqual(entry(containing: random, in: maps)?.path, "[stack]")
        let execfn = try XCTUnwrap(vector[31], "AT_EXECFN")
        let top = try XCTUnwrap(entry(containing: execfn, in: maps)).end
        let name = try RemoteMemory(pid: getpid()).read(at: execfn, count: Int(min(4096, top - execfn))).prefix { $0 != 0 }
        XCTAssertEqual(URL(fileURLWithPath: String(decoding: name, as: UTF8.self)).lastPathComponent,
                       URL(fileURLWithPath: exe).lastPathComponent)
    }

    func testChildrenListsASpawnedProcess() throws {
        let children = makeChildren()
        // Asleep, so past the dynamic loader, which holds each library it
        // maps open for a moment.
        let pid = try spawnSleeper(into: children)
        XCTAssertTrue(try ProcDirectory.children(pid: getpid()).contains(pid))
        let stat = try ProcStat.read(pid: pid)
        XCTAssertEqual(stat.ppid, getpid())
        XCTAssertEqual(stat.command, "sleep")
        XCTAssertEqual(try ProcDirectory.threads(pid: pid), [pid])
        XCTAssertEqual(try ProcDirectory.fileDescriptors(pid: pid), [0, 1, 2])
    }

    func testProcFileReadLinkAndExists() throws {
        XCTAssertTrue(ProcFile.exists("/proc/self/maps"))
        XCTAssertFalse(ProcFile.exists("/proc/self/no-such-file"))
        XCTAssertThrowsError(try ProcFile.read("/proc/self/no-such-file", pid: 7)) { error in
            let e = error as? SystemError
            XCTAssertEqual(e?.errno, ENOENT)
            XCTAssertEqual(e?.pid, 7)
            XCTAssertEqual(e?.errnoName, "ENOENT")
            XCTAssertTrue(e?.description.contains("/proc/self/no-such-file") ?? false)
        }
        XCTAssertThrowsError(try ProcFile.link("/proc/self/maps")) { XCTAssertEqual(($0 as? SystemError)?.errno, EINVAL) }
        // A large file read across several chunks.
        let smaps = try ProcFile.read("/proc/self/smaps")
        XCTAssertGreaterThan(smaps.count, 65536, "smaps of a test runner exceeds one read chunk")
        XCTAssertEqual(smaps.last, UInt8(ascii: "\n"))
    }

    func testNumbersSkipsNonNumericEntries() throws {
        // /proc itself holds "self", "meminfo"… beside the pids.
        let pids = try ProcDirectory.numbers("/proc")
        XCTAssertTrue(pids.contains(getpid()))
        XCTAssertThrowsError(try ProcDirectory.numbers("/proc/no-such-dir", pid: 3)) {
            XCTAssertEqual(($0 as? SystemError)?.errno, ENOENT)
        }
    }

    /// /proc/locks, read live: a lock this process takes is there, and the
    /// lines of requests waiting for a lock are left out.
    func testSystemWideLocksShowALockOfThisProcess() throws {
        let fd = open(scratchDirectory + "/locked", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        var lock = Glibc.flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 10
        lock.l_len = 5
        XCTAssertEqual(withUnsafeMutablePointer(to: &lock) { fcntl(fd, F_SETLK, UnsafeMutableRawPointer($0)) }, 0)
        let mine = try HeldFileLock.systemWide().filter { $0.inode == UInt64(st.st_ino) }
        XCTAssertEqual(mine, [HeldFileLock(kind: .posix, access: .write, pid: getpid(), inode: UInt64(st.st_ino), start: 10, end: 14)])
        XCTAssertEqual(try FdInfo.read(pid: getpid(), fd: fd).locks, mine)
    }
}
