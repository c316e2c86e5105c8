import Foundation
import Glibc
import Ptrace
import XCTest

/// System calls injected into a stopped child through a `syscall`
/// instruction of its vDSO.
final class RemoteSyscallTests: XCTestCase {
    let page: UInt64 = 4096

    /// Seizes `pid`, interrupts it and hands the stopped thread to `body`.
    func withStopped<T>(_ pid: pid_t, _ body: @escaping (Tracee) throws -> T) throws -> T {
        try TracerThread.run {
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            try t.interrupt()
            try requireEqual(try t.waitStop(), .eventStop(signal: SIGTRAP), "interrupt stop")
            return try body(t)
        }
    }

    func testSyscallSiteIsASyscallInstructionInTheVDSO() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let maps = try Maps.read(pid: pid)
        let site = try SyscallSite.inVDSO(pid: pid, maps: maps)
        let vdso = try XCTUnwrap(maps.first { $0.path == "[vdso]" })
        XCTAssertTrue(vdso.start <= site && site + 2 <= vdso.end)
        XCTAssertEqual(try RemoteMemory(pid: pid).read(at: site, count: 2), [0x0f, 0x05])
        // Every process maps the same vDSO image, so the offset is the same in this one.
        let own = try SyscallSite.inVDSO(pid: getpid(), maps: try Maps.read(pid: getpid()))
        let ownVDSO = try XCTUnwrap(try Maps.read(pid: getpid()).first { $0.path == "[vdso]" })
        XCTAssertEqual(own - ownVDSO.start, site - vdso.start)
    }

    func testNoVDSOIsATraceError() {
        let maps = (try? Maps.read(pid: getpid()))?.filter { $0.path != "[vdso]" } ?? []
        XCTAssertThrowsError(try SyscallSite.inVDSO(pid: getpid(), maps: maps)) { error in
            XCTAssertEqual((error as? TraceError)?.pid, getpid(), "\(error)")
            XCTAssertTrue((error as? TraceError)?.message.contains("vdso") ?? false, "\(error)")
        }
    }

    struct Injection {
        var original: Registers
        var originalMask: UInt64
        var maskWhileBorrowed: UInt64
        var getpid: Int64
        var gettid: Int64
        var mapped: UInt64
        var mappedEntry: MapEntry?
        var pattern: [UInt8]
        var readBack: [UInt8]
        var pagemap: [UInt64]
        var staged: UInt64
        var fetched: [UInt8]
        var openedFD: Int64
        var openedFlags: Int32
        var openedLink: String
        var readOnlyWrite: [UInt8]
        var protNoneRead: [UInt8]
        var munmap: Int64
        var mappedAfterUnmap: Bool
        var closeBadFD: Int64
        var checkedError: Error?
        var stageError: Error?
        var after: Registers
        var afterMask: UInt64
        var newTasks: [Int32]
    }

    func testInjectGetpidAndMmapThenFinishRestoresTheThread() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let page = self.page
        let r = try withStopped(pid) { t -> Injection in
            let maskBefore = try t.signalMask()
            let site = try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid))
            let remote = try RemoteSyscall(tracee: t, site: site)
            let maskWhileBorrowed = try t.signalMask()
            let memory = remote.memory

            let getpid = try remote.call(Syscall.getpid)
            let gettid = try remote.call(Syscall.gettid)
            let mapped = try remote.checked("scratch mmap", Syscall.mmap, 0, 2 * page, UInt64(PROT_READ | PROT_WRITE),
                                            UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
            let mappedEntry = try Maps.read(pid: pid).first { $0.start <= mapped && mapped + 2 * page <= $0.end }
            let pattern = (0..<Int(2 * page)).map { UInt8(truncatingIfNeeded: $0 * 31 + 1) }
            try memory.write(pattern, at: mapped)
            let readBack = try memory.read(at: mapped, count: pattern.count)
            let pagemap = try Pagemap(pid: pid).entries(at: mapped, count: 2)

            // Arguments passed by pointer go through the scratch area.
            remote.scratch = mapped
            remote.scratchSize = Int(page)
            let staged = try remote.stage(string: "/dev/null", at: 64)
            let fetched = try remote.fetch(at: 64, count: 10)
            var stageError: Error?
            do { try remote.stage([1, 2, 3], at: Int(page) - 2) } catch { stageError = error }
            let fd = try remote.call(Syscall.openat, UInt64(bitPattern: Int64(AT_FDCWD)), staged, UInt64(O_RDONLY | O_CLOEXEC))
            let openedFlags = fd >= 0 ? try FdInfo.read(pid: pid, fd: Int32(fd)).flags : -1
            let openedLink = fd >= 0 ? try ProcFile.link("/proc/\(pid)/fd/\(fd)") : ""
            if fd >= 0 { try remote.checked("close", Syscall.close, UInt64(fd)) }

            // Protected pages are reached through /proc/PID/mem.
            try remote.checked("mprotect", Syscall.mprotect, mapped, page, UInt64(PROT_READ))
            try memory.write([0xde, 0xad, 0xbe, 0xef], at: mapped + 8)
            let readOnlyWrite = try memory.read(at: mapped, count: 16)
            try remote.checked("mprotect", Syscall.mprotect, mapped + page, page, UInt64(PROT_NONE))
            let protNoneRead = try memory.read(at: mapped + page, count: 16)

            let munmap = try remote.call(Syscall.munmap, mapped, 2 * page)
            let mappedAfterUnmap = try Maps.read(pid: pid).contains { $0.start <= mapped && mapped < $0.end }
            let closeBadFD = try remote.call(Syscall.close, 9999)
            var checkedError: Error?
            do { try remote.checked("close of fd 9999", Syscall.close, 9999) } catch { checkedError = error }

            let original = remote.originalRegisters
            let originalMask = remote.originalSignalMask
            try remote.finish()
            let result = Injection(
                original: original, originalMask: originalMask, maskWhileBorrowed: maskWhileBorrowed,
                getpid: getpid, gettid: gettid, mapped: mapped, mappedEntry: mappedEntry, pattern: pattern, readBack: readBack,
                pagemap: pagemap, staged: staged, fetched: fetched, openedFD: fd, openedFlags: openedFlags, openedLink: openedLink,
                readOnlyWrite: readOnlyWrite, protNoneRead: protNoneRead, munmap: munmap, mappedAfterUnmap: mappedAfterUnmap,
                closeBadFD: closeBadFD, checkedError: checkedError, stageError: stageError,
                after: try t.registers(), afterMask: try t.signalMask(), newTasks: remote.takeNewTasks())
            try requireEqual(maskBefore, originalMask, "mask saved by RemoteSyscall")
            try t.detach()
            return result
        }

        XCTAssertEqual(r.getpid, Int64(pid))
        XCTAssertEqual(r.gettid, Int64(pid))
        // SIGTRAP stays open: a single step raising a blocked SIGTRAP
        // resets the program's handler for it.
        XCTAssertEqual(r.maskWhileBorrowed | (1 << UInt64(SIGKILL - 1)) | (1 << UInt64(SIGSTOP - 1)), ~(UInt64(1) << UInt64(SIGTRAP - 1)),
                       "every blockable signal but SIGTRAP is blocked while the thread is borrowed")

        XCTAssertEqual(r.mapped % page, 0)
        let entry = try XCTUnwrap(r.mappedEntry, "the injected mmap shows in the child's maps")
        XCTAssertEqual(entry.protectionString, "rw-p")
        XCTAssertNil(entry.path)
        XCTAssertEqual(r.readBack, r.pattern)
        XCTAssertNotEqual(r.pagemap[0] & Pagemap.present, 0)
        XCTAssertNotEqual(r.pagemap[1] & Pagemap.present, 0)

        XCTAssertEqual(r.staged, r.mapped + 64)
        XCTAssertEqual(r.fetched, Array("/dev/null".utf8) + [0])
        XCTAssertTrue(r.stageError is TraceError, "\(String(describing: r.stageError))")
        XCTAssertGreaterThanOrEqual(r.openedFD, 3)
        XCTAssertEqual(r.openedFlags & O_ACCMODE, O_RDONLY)
        XCTAssertNotEqual(r.openedFlags & O_CLOEXEC, 0)
        XCTAssertEqual(r.openedLink, "/dev/null")

        XCTAssertEqual(Array(r.readOnlyWrite[0..<8]), Array(r.pattern[0..<8]))
        XCTAssertEqual(Array(r.readOnlyWrite[8..<12]), [0xde, 0xad, 0xbe, 0xef], "written into a read-only page")
        XCTAssertEqual(r.protNoneRead, Array(r.pattern[Int(page)..<Int(page) + 16]), "read from a PROT_NONE page")

        XCTAssertEqual(r.munmap, 0)
        XCTAssertFalse(r.mappedAfterUnmap)
        XCTAssertEqual(r.closeBadFD, -Int64(EBADF))
        let checked = try XCTUnwrap(r.checkedError as? SystemError, "\(String(describing: r.checkedError))")
        XCTAssertEqual(checked.errno, EBADF)
        XCTAssertEqual(checked.pid, pid)
        XCTAssertTrue(checked.operation.contains("close of fd 9999"), checked.operation)
        XCTAssertTrue(checked.operation.contains("injected close"), checked.operation)

        XCTAssertEqual(r.after, r.original, "finish() gives the thread its registers back exactly")
        XCTAssertEqual(r.afterMask, r.originalMask)
        XCTAssertEqual(r.original.interruptedSyscall, 230)
        XCTAssertEqual(r.newTasks, [])

        try waitUntil("sleep \(pid) sleeps again, untraced") {
            isSleeping(pid) && (try? ProcStat.read(pid: pid).state) == "S"
                && (try? ProcStatus.read(pid: pid).fields["TracerPid"]) == "0"
        }
        XCTAssertEqual(try ProcDirectory.fileDescriptors(pid: pid), [0, 1, 2], "the injected open was closed")
    }

    func testInterruptedSleepFinishesNormallyAfterInjection() throws {
        // If finish() left rax/orig_rax wrong, the kernel would not restart
        // clock_nanosleep and sleep would fail or end early.
        let children = makeChildren()
        let started = Date()
        let pid = try spawnSleeper(seconds: 2, into: children)
        let pids = try withStopped(pid) { t -> [Int64] in
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid)))
            let pids = try (0..<20).map { _ in try remote.call(Syscall.getpid) }
            try remote.finish()
            try t.detach()
            return pids
        }
        XCTAssertEqual(pids, Array(repeating: Int64(pid), count: 20))
        let status = try XCTUnwrap(children.waitForExit(pid, timeout: 20), "sleep 2 did not end")
        XCTAssertEqual(Stop(status: status), .exited(code: 0))
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1.9, "the whole sleep was served")
    }

    /// A batch of calls runs in the tracee in trips of a table each, every
    /// result in its place (a failing call among them too), and the
    /// thread carries on as before once it is given back.
    func testBatchRunsEveryCallWithItsOwnResult() throws {
        let children = makeChildren()
        let started = Date()
        let pid = try spawnSleeper(seconds: 2, into: children)
        let page = self.page
        let count = 1500
        let (results, base, maps, perCall) = try withStopped(pid) { t -> ([Int64], UInt64, [MapEntry], [Int64]) in
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid)))
            let area = try remote.checked("runner area", Syscall.mmap, 0, 65536, 7, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
            try remote.installBatchRunner(at: area)
            remote.scratch = area + 4096
            remote.scratchSize = 65536 - 4096
            let base = try remote.checked("reserve", Syscall.mmap, 0, UInt64(count) * page, 0, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
            var requests = (0..<count).map { i in
                SyscallRequest(Syscall.mmap, base + UInt64(i) * page, page, UInt64(i % 2 == 0 ? PROT_READ | PROT_WRITE : PROT_READ),
                               UInt64(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), UInt64.max, 0)
            }
            requests.insert(SyscallRequest(Syscall.close, 9999), at: 700)
            requests.append(SyscallRequest(Syscall.getpid))
            let results = try remote.callAll(requests)
            let maps = try Maps.read(pid: pid).filter { $0.start >= base && $0.end <= base + UInt64(count) * page }
            // Without a runner the same requests go one by one.
            let plain = try RemoteSyscall(tracee: t, site: remote.site)
            let perCall = try plain.callAll([SyscallRequest(Syscall.getpid), SyscallRequest(Syscall.close, 9999)])
            try remote.finish()
            try t.detach()
            return (results, base, maps, perCall)
        }
        XCTAssertEqual(results.count, count + 2)
        var expected = (0..<count).map { Int64(base + UInt64($0) * page) }
        expected.insert(-Int64(EBADF), at: 700)
        expected.append(Int64(pid))
        XCTAssertEqual(results, expected, "each call's own result, in order")
        XCTAssertEqual(maps.count, count, "one VMA per page: the protections alternate")
        XCTAssertEqual(maps.first?.protectionString, "rw-p")
        XCTAssertEqual(maps.last?.protectionString, count % 2 == 0 ? "r--p" : "rw-p")
        XCTAssertEqual(perCall, [Int64(pid), -Int64(EBADF)])
        let status = try XCTUnwrap(children.waitForExit(pid, timeout: 20), "sleep 2 did not end")
        XCTAssertEqual(Stop(status: status), .exited(code: 0))
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1.9, "the whole sleep was served")
    }

    /// An interrupt asked for while the thread is already stopped (as the
    /// freeze does to a thread it finds at an exec event) reports once the
    /// thread runs again: a batch that meets it first still runs, and
    /// every call in it once.
    func testBatchRunsPastAnInterruptAskedWhileStopped() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(seconds: 2, into: children)
        let page = self.page
        let (results, mapped) = try withStopped(pid) { t -> ([Int64], Int) in
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid)))
            let area = try remote.checked("runner area", Syscall.mmap, 0, 65536, 7, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
            try remote.installBatchRunner(at: area)
            remote.scratch = area + 4096
            remote.scratchSize = 65536 - 4096
            try t.interrupt()
            let base = try remote.checked("reserve", Syscall.mmap, 0, 4 * page, 0, UInt64(MAP_PRIVATE | MAP_ANONYMOUS), UInt64.max, 0)
            try t.interrupt()
            let results = try remote.callAll((0..<4).map { i in
                SyscallRequest(Syscall.mmap, base + UInt64(i) * page, page, UInt64(i % 2 == 0 ? PROT_READ | PROT_WRITE : PROT_READ),
                               UInt64(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), UInt64.max, 0)
            } + [SyscallRequest(Syscall.getpid)])
            let mapped = try Maps.read(pid: pid).filter { $0.start >= base && $0.end <= base + 4 * page }.count
            try remote.finish()
            try t.detach()
            return (results.dropLast().map { $0 - results[0] } + [results.last!], mapped)
        }
        XCTAssertEqual(results, [0, Int64(page), 2 * Int64(page), 3 * Int64(page), Int64(pid)], "each call once, in order")
        XCTAssertEqual(mapped, 4, "the four protections alternate: one VMA each")
        let status = try XCTUnwrap(children.waitForExit(pid, timeout: 20), "sleep 2 did not end")
        XCTAssertEqual(Stop(status: status), .exited(code: 0), "the sleeper runs on to its end")
    }

    func testBusyChildRunsOnAfterInjectionAndDetach() throws {
        let children = makeChildren()
        let pid = try spawn("/bin/sh", ["-c", "while :; do :; done"], into: children)
        try waitUntil("sh \(pid) spins") { (try? ProcStat.read(pid: pid).state) == "R" && (try? ProcStat.read(pid: pid).command) == "sh" }
        let (before, after, result) = try withStopped(pid) { t -> (Registers, Registers, Int64) in
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid)))
            let result = try remote.call(Syscall.getpid)
            try remote.finish()
            let after = try t.registers()
            try t.detach()
            return (remote.originalRegisters, after, result)
        }
        XCTAssertEqual(result, Int64(pid))
        XCTAssertEqual(after, before)
        func cpuTicks() -> Int { (Int(rawStatField(pid, 14) ?? "") ?? 0) + (Int(rawStatField(pid, 15) ?? "") ?? 0) }
        let ticks = cpuTicks()
        try waitUntil("sh \(pid) uses CPU again") { cpuTicks() >= ticks + 10 }
        XCTAssertEqual(rawStatField(pid, 3), "R")
        XCTAssertEqual(kill(pid, 0), 0)
    }

    /// The kernel resets an ignored SIGTRAP to SIG_DFL when a single step
    /// raises one; calls run at system-call stops raise none, which is how
    /// the ignored action is put back.
    func testIgnoredSigtrapIsPutBackWithoutAStep() throws {
        let children = makeChildren()
        // SIG_IGN survives exec.
        let pid = try spawn("/bin/sh", ["-c", "trap '' TRAP; exec /bin/sleep 30"], into: children)
        try waitUntil("sleep \(pid) blocks in clock_nanosleep") { blockedSyscall(pid) == 230 }
        let trapBit = UInt64(1) << UInt64(SIGTRAP - 1)
        func trapIgnored() throws -> Bool { try ProcStatus.read(pid: pid).signalsIgnored & trapBit != 0 }
        XCTAssertTrue(try trapIgnored(), "the shell's trap left SIGTRAP ignored")
        let (afterStep, afterPutBack, stopsPid, area, mapped) = try TracerThread.run { () -> (Bool, Bool, Int64, UInt64, Bool) in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [.traceSysGood])
            try t.interrupt()
            try requireEqual(try t.waitStop(), .eventStop(signal: SIGTRAP), "interrupt stop")
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid)))
            let area = try remote.checked("scratch", Syscall.mmap, 0, self.page, 3, 0x22, UInt64.max, 0)
            let afterStep = try trapIgnored()
            let stopsPid = try remote.callAtSyscallStops(Syscall.getpid)
            try remote.returnScratch(at: area, size: self.page, trapIgnored: true)
            let afterPutBack = try trapIgnored()
            let mapped = try Maps.read(pid: pid).contains { $0.start <= area && area < $0.end }
            try remote.finish()
            try t.detach()
            return (afterStep, afterPutBack, stopsPid, area, mapped)
        }
        XCTAssertFalse(afterStep, "a single step resets an ignored SIGTRAP (kernel behaviour this works around)")
        XCTAssertTrue(afterPutBack, "ignored again")
        XCTAssertEqual(stopsPid, Int64(pid))
        XCTAssertFalse(mapped, "the scratch page at 0x\(String(area, radix: 16)) is unmapped at system-call stops")
        XCTAssertTrue(try trapIgnored(), "still ignored once the thread is given back")
        XCTAssertEqual(kill(pid, SIGTRAP), 0)
        usleep(100_000)
        XCTAssertEqual(rawStatField(pid, 3), "S", "the ignored SIGTRAP did not end the sleeper")
    }

    func testWrongThreadCannotInject() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let remote = try withStopped(pid) { t -> RemoteSyscall in
            try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: pid, maps: try Maps.read(pid: pid)))
        }
        XCTAssertThrowsError(try remote.call(Syscall.getpid)) { XCTAssertTrue($0 is TraceError, "\($0)") }
        XCTAssertThrowsError(try remote.finish()) { XCTAssertTrue($0 is TraceError, "\($0)") }
    }
}
