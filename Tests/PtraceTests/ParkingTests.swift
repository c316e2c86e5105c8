import Foundation
import Glibc
import Ptrace
import XCTest

/// A parked thread (`RemoteSyscall.park`) whose tracer ends without giving
/// it back: the kernel lets it go on with crtool's registers, and the
/// frame must take it home. A tracer thread that ends is what the kernel
/// sees of a crtool killed with SIGKILL: it detaches every tracee of the
/// thread as it exits.
final class ParkingTests: XCTestCase {
    func testAParkedSleeperGoesHomeWhenItsTracerEnds() throws {
        let children = makeChildren()
        let started = Date()
        let pid = try spawn("/bin/sleep", ["1.5"], into: children)
        try waitUntil("sleep \(pid) blocks in clock_nanosleep") { blockedSyscall(pid) == 230 }
        let maskBefore = try XCTUnwrap(UInt64(try status(pid, "SigBlk"), radix: 16))

        let answers = try TracerThread.run { () -> [Int64] in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [.traceSysGood])
            try t.interrupt()
            _ = try t.waitStop()
            let inj = try Self.parked(t)
            XCTAssertTrue(inj.isParked)
            let answers = try inj.callAll([SyscallRequest(Syscall.getpid), SyscallRequest(Syscall.gettid)])
            // One call alone is a trip too, and leaves the thread parked.
            XCTAssertEqual(try inj.call(Syscall.getpid), Int64(pid))
            return answers
            // The thread ends here, leaving the sleeper borrowed.
        }
        XCTAssertEqual(answers, [Int64(pid), Int64(pid)])
        try waitUntil("the tracer's end lets \(pid) go") { try status(pid, "TracerPid") == "0" }
        // Asleep again once it has gone home: its sleep started over.
        try waitUntil("sleep \(pid) sleeps again") { blockedSyscall(pid) == 230 }
        XCTAssertEqual(UInt64(try status(pid, "SigBlk"), radix: 16), maskBefore, "the signal mask came back")
        // Its sleep starts over (rt_sigreturn leaves no restart block), so
        // it ends no sooner than asked, and normally.
        let exit = try XCTUnwrap(children.waitForExit(pid, timeout: 10), "sleep \(pid) did not end")
        XCTAssertEqual(exit, 0, "sleep \(pid) ended with wait status \(exit)")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1.5)
    }

    func testAParkedThreadGivenBackIsAsBefore() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let (before, after, maskBefore, maskAfter) = try TracerThread.run { () -> (Registers, Registers, UInt64, UInt64) in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [.traceSysGood])
            defer { try? t.detach() }
            try t.interrupt()
            _ = try t.waitStop()
            let before = try t.registers(), maskBefore = try t.signalMask()
            let inj = try Self.parked(t)
            _ = try inj.call(Syscall.getpid)
            try inj.finish()
            return (before, try t.registers(), maskBefore, try t.signalMask())
        }
        XCTAssertEqual(after, before)
        XCTAssertEqual(maskAfter, maskBefore)
        try waitUntil("sleep \(pid) sleeps on") { isSleeping(pid) }
    }

    func testTheEndSignalChangesNothingForTheThread() {
        func bit(_ s: Int32) -> UInt64 { UInt64(1) << UInt64(s - 1) }
        // One the process ignores comes first.
        XCTAssertEqual(ParkingSignal.choose(ignored: bit(SIGPIPE), caught: 0, blockedByThread: 0), SIGPIPE)
        // Else one ignored by default and not caught.
        XCTAssertEqual(ParkingSignal.choose(ignored: 0, caught: 0, blockedByThread: 0), SIGURG)
        XCTAssertEqual(ParkingSignal.choose(ignored: 0, caught: bit(SIGURG), blockedByThread: 0), SIGWINCH)
        // Never one the thread blocks (it may wait for it), nor a stop
        // signal or SIGCONT, whose sending does something.
        XCTAssertEqual(ParkingSignal.choose(ignored: bit(SIGPIPE) | bit(SIGTSTP) | bit(SIGCONT), caught: bit(SIGURG),
                                            blockedByThread: bit(SIGPIPE) | bit(SIGWINCH)), SIGCHLD)
        XCTAssertNil(ParkingSignal.choose(ignored: 0, caught: bit(SIGURG) | bit(SIGWINCH), blockedByThread: bit(SIGCHLD)))
    }

    func testTheFrameCarriesWhatRtSigreturnChecks() {
        var regs = Registers()
        regs.rip = 0x1111; regs.rsp = 0x2222; regs.rax = 0x3333; regs.r8 = 0x4444; regs.cs = 0x33; regs.ss = 0x2b
        var state = [UInt8](repeating: 0, count: 832)
        state.replaceSubrange(464..<472, with: [UInt8].le(UInt64(0x7)))
        let address: UInt64 = 0x7000_0000
        let frame = SignalReturnFrame.bytes(at: address, registers: regs, signalMask: 0xabc, extendedState: state)
        XCTAssertEqual(frame.count, SignalReturnFrame.size(extendedStateSize: 832))
        let context = 48 // after the return address, flags, link and alternate stack
        XCTAssertEqual(frame.le(UInt64.self, at: context), regs.r8)
        XCTAssertEqual(frame.le(UInt64.self, at: context + 13 * 8), regs.rax)
        XCTAssertEqual(frame.le(UInt64.self, at: context + 15 * 8), regs.rsp)
        XCTAssertEqual(frame.le(UInt64.self, at: context + 16 * 8), regs.rip)
        XCTAssertEqual(frame.le(UInt16.self, at: context + 144), 0x33)
        XCTAssertEqual(frame.le(UInt16.self, at: context + 150), 0x2b)
        XCTAssertEqual(frame.le(UInt64.self, at: context + 184), address + 448, "the extended state's address")
        XCTAssertEqual(frame.le(UInt64.self, at: context + 256), 0xabc, "the signal mask")
        XCTAssertEqual(frame.le(UInt32.self, at: 448 + 464), 0x4650_5853, "FP_XSTATE_MAGIC1")
        XCTAssertEqual(frame.le(UInt32.self, at: 448 + 468), 832 + 4, "extended size")
        XCTAssertEqual(frame.le(UInt64.self, at: 448 + 472), 0x7, "the features ptrace left in the software bytes")
        XCTAssertEqual(frame.le(UInt32.self, at: 448 + 480), 832, "XSAVE area size")
        XCTAssertEqual(frame.le(UInt32.self, at: 448 + 832), 0x4650_5845, "FP_XSTATE_MAGIC2 after the area")
    }

    /// Lends the stopped thread a scratch area with both runners and parks
    /// it, its registers restarted as a checkpoint would.
    static func parked(_ t: Tracee) throws -> RemoteSyscall {
        let site = try SyscallSite.inVDSO(pid: t.pid, maps: try Maps.read(pid: t.pid))
        let inj = try RemoteSyscall(tracee: t, site: site)
        let work = 16384
        let size = work + 8192
        let scratch = try inj.checkedAtSyscallStops("scratch", Syscall.mmap, 0, UInt64(size), 7, 0x22, UInt64.max, 0)
        inj.scratch = scratch
        inj.scratchSize = work
        try inj.installBatchRunner(at: scratch + 8192 - 128)
        try inj.installParkingRunner(at: scratch + 8192 - 64)
        let status = try ProcStatus.read(pid: t.pid)
        let signal = try XCTUnwrap(ParkingSignal.choose(ignored: status.signalsIgnored, caught: status.signalsCaught,
                                                        blockedByThread: inj.originalSignalMask))
        try inj.park(frameAt: scratch + UInt64(work), returningTo: SyscallRestart.resumable(inj.originalRegisters), endSignal: signal)
        return inj
    }

    func status(_ pid: pid_t, _ field: String) throws -> String {
        try XCTUnwrap(try ProcStatus.read(pid: pid).fields[field], "\(field) of \(pid)")
    }
}
