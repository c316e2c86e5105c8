import Foundation
import Glibc
import Ptrace
import XCTest

final class RegistersTests: XCTestCase {
    /// A thread that stopped in a syscall (nanosleep) whose instruction ends at 0x401002.
    func stoppedInSyscall(result: Int64) -> Registers {
        var r = Registers()
        r.rax = UInt64(bitPattern: result)
        r.origRax = 35
        r.rip = 0x40_1002
        r.rdi = 0x7ffd_0000_1000
        r.rsi = 0x7ffd_0000_1010
        r.rsp = 0x7ffd_0000_0f00
        r.eflags = 0x246
        r.cs = 0x33
        r.ss = 0x2b
        r.fsBase = 0x7f00_0000_0740
        return r
    }

    func testRestartCodesAreTheKernels() {
        XCTAssertEqual(SyscallRestart.restartSys, -512)
        XCTAssertEqual(SyscallRestart.restartNoIntr, -513)
        XCTAssertEqual(SyscallRestart.restartNoHand, -514)
        XCTAssertEqual(SyscallRestart.restartRestartBlock, -516)
    }

    func testRestartableCodesRepeatTheSyscall() {
        for code in [SyscallRestart.restartSys, SyscallRestart.restartNoIntr, SyscallRestart.restartNoHand] {
            let before = stoppedInSyscall(result: code)
            let after = SyscallRestart.resumable(before)
            XCTAssertEqual(after.rax, 35, "rax holds the syscall number again for code \(code)")
            XCTAssertEqual(after.rip, 0x40_1000, "rip goes back over the 2-byte syscall instruction for code \(code)")
            XCTAssertEqual(after.origRax, UInt64.max)
            XCTAssertNil(after.interruptedSyscall)
            var expected = before
            expected.rax = 35
            expected.rip = 0x40_1000
            expected.origRax = .max
            XCTAssertEqual(after, expected, "nothing else changes for code \(code)")
        }
    }

    /// nanosleep (35) broken off with a restart block starts over; a call
    /// the restore cannot start over, or restart_syscall itself, fails
    /// with EINTR.
    func testRestartBlockStartsWaitsOverAndFailsTheRest() {
        let sleeping = stoppedInSyscall(result: SyscallRestart.restartRestartBlock)
        var expected = sleeping
        expected.rax = 35
        expected.rip = 0x40_1000
        expected.origRax = .max
        XCTAssertEqual(SyscallRestart.resumable(sleeping), expected)
        for call: UInt64 in [7, 202, 230] {
            var waiting = sleeping
            waiting.origRax = call
            XCTAssertEqual(SyscallRestart.resumable(waiting).rax, call, "syscall \(call) starts over")
        }
        for call: UInt64 in [219, 0] {
            var other = sleeping
            other.origRax = call
            let after = SyscallRestart.resumable(other)
            XCTAssertEqual(after.result, -Int64(EINTR), "syscall \(call)")
            XCTAssertEqual(after.rip, other.rip, "syscall \(call) is not repeated")
            XCTAssertEqual(after.origRax, UInt64.max)
        }
    }

    /// A thread inside restart_syscall (219) is carrying on a wait an
    /// earlier stop broke off; where it waits tells which.
    func testRestartedCallIsToldByTheWaitChannel() {
        var regs = stoppedInSyscall(result: SyscallRestart.restartRestartBlock)
        regs.origRax = 219
        XCTAssertEqual(SyscallRestart.restartedCall(waitChannel: "poll_schedule_timeout.constprop.0", registers: regs), 7)
        XCTAssertEqual(SyscallRestart.restartedCall(waitChannel: "futex_wait_queue", registers: regs), 202)
        XCTAssertEqual(SyscallRestart.restartedCall(waitChannel: "do_syscall_64", registers: regs), 35, "rdi is a pointer: nanosleep")
        var clock = regs
        clock.rdi = 1 // CLOCK_MONOTONIC
        XCTAssertEqual(SyscallRestart.restartedCall(waitChannel: "hrtimer_nanosleep", registers: clock), 230)
        XCTAssertNil(SyscallRestart.restartedCall(waitChannel: "pipe_read", registers: regs))
        var plain = regs
        plain.origRax = 7
        XCTAssertNil(SyscallRestart.restartedCall(waitChannel: "poll_schedule_timeout", registers: plain), "not in restart_syscall")
        var done = regs
        done.rax = UInt64(bitPattern: -Int64(EINTR))
        XCTAssertNil(SyscallRestart.restartedCall(waitChannel: "poll_schedule_timeout", registers: done), "not broken off")
    }

    func testOrdinaryResultsStay() {
        for result: Int64 in [0, 7, -Int64(EINTR), -Int64(EAGAIN), -511, -515, -517, -4095] {
            let before = stoppedInSyscall(result: result)
            var expected = before
            expected.origRax = .max
            XCTAssertEqual(SyscallRestart.resumable(before), expected, "result \(result)")
        }
    }

    func testOutsideASyscallOnlyOrigRaxIsCleared() {
        // A thread stopped in user code: rax may hold anything, even a value
        // that looks like a restart code, and must not be touched.
        for rax: Int64 in [SyscallRestart.restartSys, SyscallRestart.restartRestartBlock, 0, 12345] {
            var before = stoppedInSyscall(result: rax)
            before.origRax = UInt64.max
            XCTAssertNil(before.interruptedSyscall)
            XCTAssertEqual(SyscallRestart.resumable(before), before, "rax \(rax)")
        }
    }

    func testResumableIsIdempotent() {
        let once = SyscallRestart.resumable(stoppedInSyscall(result: SyscallRestart.restartSys))
        XCTAssertEqual(SyscallRestart.resumable(once), once)
    }

    func testInterruptedSyscallAndResult() {
        var r = Registers()
        r.origRax = UInt64.max
        XCTAssertNil(r.interruptedSyscall)
        r.origRax = 0
        XCTAssertEqual(r.interruptedSyscall, 0)
        r.origRax = 230
        XCTAssertEqual(r.interruptedSyscall, 230)
        r.rax = UInt64(bitPattern: -14)
        XCTAssertEqual(r.result, -14)
        r.rax = 0x7fff_ffff_ffff_ffff
        XCTAssertEqual(r.result, .max)
    }

    func testCodableRoundTrip() throws {
        var r = stoppedInSyscall(result: -516)
        r.r15 = 15; r.r14 = 14; r.r13 = 13; r.r12 = 12; r.rbp = 0xbb; r.rbx = 0xb
        r.r11 = 11; r.r10 = 10; r.r9 = 9; r.r8 = 8; r.rcx = 0xc; r.rdx = 0xd
        r.gsBase = 0x9000; r.ds = 1; r.es = 2; r.fs = 3; r.gs = 4
        let data = try JSONEncoder().encode(r)
        XCTAssertEqual(try JSONDecoder().decode(Registers.self, from: data), r)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["rip"] as? UInt64, 0x40_1002, "registers are stored by name")
        XCTAssertEqual(object.count, 27)
    }
}

final class SyscallNamesTests: XCTestCase {
    func testKnownNumbers() {
        XCTAssertEqual(SyscallNames.name(35), "nanosleep")
        XCTAssertEqual(SyscallNames.name(0), "read")
        XCTAssertEqual(SyscallNames.name(230), "clock_nanosleep")
        XCTAssertEqual(SyscallNames.name(Syscall.clone3), "clone3")
        XCTAssertEqual(SyscallNames.number("openat"), 257)
        XCTAssertEqual(SyscallNames.number("getpid"), Syscall.getpid)
        XCTAssertEqual(SyscallNames.number("read"), 0)
    }

    func testUnknownOnes() {
        XCTAssertNil(SyscallNames.number("no_such_syscall"))
        XCTAssertNil(SyscallNames.number(""))
        XCTAssertEqual(SyscallNames.name(-1), "no system call")
        XCTAssertEqual(SyscallNames.name(Int64(Int32.max) + 1), "no system call")
        XCTAssertEqual(SyscallNames.name(100_000), "syscall 100000")
    }

    func testTheFixedTableAgreesWithLibseccomp() {
        let table: [(String, Int64)] = [
            ("read", Syscall.read), ("write", Syscall.write), ("close", Syscall.close), ("lseek", Syscall.lseek),
            ("mmap", Syscall.mmap), ("mprotect", Syscall.mprotect), ("munmap", Syscall.munmap), ("brk", Syscall.brk),
            ("rt_sigaction", Syscall.rtSigaction), ("rt_sigprocmask", Syscall.rtSigprocmask), ("mremap", Syscall.mremap),
            ("madvise", Syscall.madvise), ("dup2", Syscall.dup2), ("getitimer", Syscall.getitimer), ("setitimer", Syscall.setitimer),
            ("getpid", Syscall.getpid), ("fcntl", Syscall.fcntl), ("chdir", Syscall.chdir), ("fchdir", Syscall.fchdir),
            ("umask", Syscall.umask), ("setresuid", Syscall.setresuid), ("setresgid", Syscall.setresgid),
            ("setgroups", Syscall.setgroups), ("sigaltstack", Syscall.sigaltstack), ("personality", Syscall.personality),
            ("prctl", Syscall.prctl), ("chroot", Syscall.chroot), ("gettid", Syscall.gettid),
            ("set_tid_address", Syscall.setTidAddress), ("rt_tgsigqueueinfo", Syscall.rtTgsigqueueinfo),
            ("rt_sigqueueinfo", Syscall.rtSigqueueinfo), ("set_robust_list", Syscall.setRobustList),
            ("get_robust_list", Syscall.getRobustList), ("dup3", Syscall.dup3), ("prlimit64", Syscall.prlimit64),
            ("rseq", Syscall.rseq), ("openat", Syscall.openat), ("clone3", Syscall.clone3), ("close_range", Syscall.closeRange),
            ("pidfd_open", Syscall.pidfdOpen), ("pidfd_getfd", Syscall.pidfdGetfd), ("kcmp", Syscall.kcmp),
            ("restart_syscall", Syscall.restartSyscall),
        ]
        for (name, number) in table {
            XCTAssertEqual(SyscallNames.number(name), number, name)
            XCTAssertEqual(SyscallNames.name(number), name)
        }
    }
}
