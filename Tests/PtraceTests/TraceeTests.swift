import Foundation
import Glibc
import Ptrace
import XCTest

/// Live ptrace on /bin/sleep children. Every request runs inside
/// TracerThread.run, the one thread that attached.
final class TraceeTests: XCTestCase {
    struct Snapshot {
        var stop: Stop
        var lastStop: Stop?
        var stateWhileStopped: Character
        var tracerWhileStopped: String?
        var tracerPidWhileStopped: Int32
        var tracerThread: pid_t
        var registers: Registers
        var syscallBytes: [UInt8]
        var extendedState: [UInt8]
        var signalMask: UInt64
        var statusSignalMask: UInt64
        var rseq: RseqConfiguration?
        var maps: [MapEntry]
    }

    func testSeizeInterruptAndReadTheStoppedThread() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let s = try TracerThread.run { () -> Snapshot in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            try requireEqual(t.tid, pid, "tid")
            try requireEqual(t.pid, pid, "pid")
            try require(t.lastStop == nil, "no stop seen yet")
            try t.interrupt()
            let stop = try t.waitStop()
            let regs = try t.registers()
            let snapshot = Snapshot(
                stop: stop, lastStop: t.lastStop,
                stateWhileStopped: try ProcStat.read(pid: pid).state,
                tracerWhileStopped: try ProcStatus.read(pid: pid).fields["TracerPid"],
                tracerPidWhileStopped: try ProcStatus.read(pid: pid).tracerPid,
                tracerThread: Tracee.callingThreadID,
                registers: regs,
                syscallBytes: try RemoteMemory(pid: pid).read(at: regs.rip - 2, count: 2),
                extendedState: try t.extendedState(),
                signalMask: try t.signalMask(),
                statusSignalMask: try ProcStatus.read(pid: pid, tid: pid).signalsBlocked,
                rseq: try t.rseqConfiguration(),
                maps: try Maps.read(pid: pid))
            try t.detach()
            return snapshot
        }

        XCTAssertEqual(s.stop, .eventStop(signal: SIGTRAP), "PTRACE_INTERRUPT stops with PTRACE_EVENT_STOP")
        XCTAssertEqual(s.lastStop, s.stop)
        XCTAssertEqual(s.stateWhileStopped, "t")
        XCTAssertEqual(s.tracerWhileStopped, String(s.tracerThread), "the tracer is the attaching thread")
        XCTAssertEqual(s.tracerPidWhileStopped, s.tracerThread, "typed, the same thread")

        // sleep sits in clock_nanosleep, which the interrupt broke off with -ERESTART_RESTARTBLOCK.
        let r = s.registers
        XCTAssertEqual(r.interruptedSyscall, 230)
        XCTAssertEqual(r.result, SyscallRestart.restartRestartBlock)
        XCTAssertEqual(SyscallRestart.resumable(r).rax, 230, "the sleep starts over")
        XCTAssertEqual(s.syscallBytes, [0x0f, 0x05], "rip is just past the syscall instruction")
        let code = try XCTUnwrap(s.maps.first { $0.start <= r.rip && r.rip < $0.end })
        XCTAssertTrue(code.execute)
        XCTAssertTrue(code.path?.contains("libc") ?? false, "\(code)")
        let stack = try XCTUnwrap(s.maps.first { $0.path == "[stack]" })
        XCTAssertTrue(stack.start <= r.rsp && r.rsp < stack.end)
        XCTAssertEqual(r.cs, 0x33)
        XCTAssertEqual(r.ss, 0x2b)
        XCTAssertNotEqual(r.fsBase, 0, "glibc's thread pointer")

        // The XSAVE layout: legacy area with the default control words, the
        // enabled-feature mask (XCR0) the kernel puts in the software-reserved
        // bytes for ptrace, then the XSAVE header.
        let x = s.extendedState
        XCTAssertGreaterThanOrEqual(x.count, 576)
        XCTAssertLessThanOrEqual(x.count, 16384)
        XCTAssertEqual(x.le(UInt16.self, at: 0), 0x037f, "FCW")
        XCTAssertEqual(x.le(UInt32.self, at: 24), 0x1f80, "MXCSR")
        let xcr0 = x.le(UInt64.self, at: 464)
        XCTAssertEqual(xcr0 & 0x3, 0x3, "x87 and SSE are enabled")
        XCTAssertEqual(x.le(UInt64.self, at: 512) & ~xcr0, 0, "XSTATE_BV holds only enabled features")
        if xcr0 & 0x4 != 0 {
            XCTAssertGreaterThanOrEqual(x.count, 832, "the AVX area ends at 832")
        }

        XCTAssertEqual(s.signalMask, 0, "spawned with an empty mask")
        XCTAssertEqual(s.statusSignalMask, s.signalMask)

        let rseq = try XCTUnwrap(s.rseq, "glibc 2.35+ registers rseq")
        XCTAssertEqual(rseq.signature, 0x5305_3053)
        XCTAssertGreaterThanOrEqual(rseq.length, 32)
        let area = try XCTUnwrap(s.maps.first { $0.start <= rseq.address && rseq.address < $0.end })
        XCTAssertTrue(area.write)

        // Detached, it goes back to sleep untraced.
        try waitUntil("sleep \(pid) runs on untraced") {
            (try? ProcStatus.read(pid: pid).fields["TracerPid"]) == "0" && (try? ProcStat.read(pid: pid).state) == "S" && isSleeping(pid)
        }
        XCTAssertEqual(kill(pid, 0), 0)
    }

    func testRegisterAndExtendedStateWritesReadBack() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        try TracerThread.run {
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            try t.interrupt()
            try t.waitStop()
            let original = try t.registers()
            var changed = original
            changed.r12 = 0x1234_5678_9abc_def0
            changed.r13 = 0x0fed_cba9_8765_4321
            try t.setRegisters(changed)
            try requireEqual(try t.registers(), changed, "registers after set")
            try t.setRegisters(original)
            try requireEqual(try t.registers(), original, "registers restored")

            let xstate = try t.extendedState()
            var modified = xstate
            for i in 160..<176 { modified[i] = UInt8(i) } // xmm0
            try t.setExtendedState(modified)
            let readBack = try t.extendedState()
            try requireEqual(Array(readBack[160..<176]), Array(modified[160..<176]), "xmm0 after set")
            try t.setExtendedState(xstate)
            try requireEqual(try t.extendedState(), xstate, "extended state restored")

            try t.setSignalMask(1 << UInt64(SIGUSR1 - 1) | 1 << UInt64(SIGKILL - 1))
            try requireEqual(try t.signalMask(), 1 << UInt64(SIGUSR1 - 1), "mask (SIGKILL cannot be blocked)")
            try requireEqual(try ProcStatus.read(pid: pid, tid: pid).signalsBlocked, 1 << UInt64(SIGUSR1 - 1), "SigBlk in status")
            try t.setSignalMask(0)
            try t.detach()
        }
        try waitUntil("sleep \(pid) sleeps again") { isSleeping(pid) }
    }

    func testPendingSignalsAreSeenWithoutBeingTaken() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let (shared, privateQueue) = try TracerThread.run { () -> ([SignalInfo], [SignalInfo]) in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            try t.interrupt()
            try t.waitStop()
            try requireEqual(try t.pendingSignals(shared: true), [], "shared queue before")
            // Ignored by default, so delivering them after detach is harmless;
            // a traced thread still queues them.
            try requireEqual(kill(pid, SIGWINCH), 0, "kill")
            try requireEqual(threadKill(pid, pid, SIGURG), 0, "tgkill")
            let shared = try t.pendingSignals(shared: true)
            let privateQueue = try t.pendingSignals(shared: false)
            try requireEqual(try t.pendingSignals(shared: true), shared, "peeking again")
            try t.detach()
            return (shared, privateQueue)
        }
        XCTAssertEqual(shared.map(\.signal), [SIGWINCH])
        XCTAssertEqual(privateQueue.map(\.signal), [SIGURG])
        let info = try XCTUnwrap(shared.first)
        XCTAssertEqual(info.bytes.count, 128)
        XCTAssertEqual(info.bytes.le(Int32.self, at: 8), 0, "si_code SI_USER")
        XCTAssertEqual(info.bytes.le(Int32.self, at: 16), getpid(), "si_pid")
        XCTAssertEqual(info.bytes.le(UInt32.self, at: 20), getuid(), "si_uid")
        XCTAssertEqual(privateQueue.first?.bytes.le(Int32.self, at: 8), -6, "si_code SI_TKILL")

        try waitUntil("sleep \(pid) drops the ignored signals and sleeps on") {
            (try? ProcStatus.read(pid: pid).fields["SigPnd"]) == "0000000000000000"
                && (try? ProcStatus.read(pid: pid).fields["ShdPnd"]) == "0000000000000000" && isSleeping(pid)
        }
    }

    func testManyPendingSignalsArePagedThrough() throws {
        let realtimeSignal: Int32 = 40
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let signals = try TracerThread.run { () -> [SignalInfo] in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            try t.interrupt()
            try t.waitStop()
            // Real-time signals queue every instance: more than one 32-entry batch.
            for i in 0..<40 {
                try requireEqual(sigqueue(pid, realtimeSignal, sigval(sival_int: Int32(i))), 0, "sigqueue \(i)")
            }
            let pending = try t.pendingSignals(shared: true)
            try t.detach()
            return pending
        }
        XCTAssertEqual(signals.count, 40)
        XCTAssertTrue(signals.allSatisfy { $0.signal == realtimeSignal })
        // si_value of a queued signal sits at offset 24.
        XCTAssertEqual(signals.map { $0.bytes.le(Int32.self, at: 24) }, Array(0..<40))
        // The default action of a real-time signal terminates the sleeper.
        let status = try XCTUnwrap(children.waitForExit(pid, timeout: 10))
        XCTAssertEqual(Stop(status: status), .killed(signal: realtimeSignal))
    }

    func testCallsFromAnotherThreadThrowInsteadOfCrashing() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        final class Box: @unchecked Sendable { var errors: [Error] = [] }
        let box = Box()
        let tracee = try TracerThread.run { () -> Tracee in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            let done = DispatchSemaphore(value: 0)
            Thread {
                for call in [{ try t.interrupt() }, { _ = try t.registers() }, { _ = try t.waitStop() },
                             { try t.detach() }, { _ = try t.signalMask() }] as [() throws -> Void] {
                    do { try call() } catch { box.errors.append(error) }
                }
                done.signal()
            }.start()
            done.wait()
            // The owner still works after the refused calls.
            try t.interrupt()
            try requireEqual(try t.waitStop(), .eventStop(signal: SIGTRAP), "stop")
            try t.detach()
            return t
        }
        XCTAssertEqual(box.errors.count, 5)
        for error in box.errors {
            let e = try XCTUnwrap(error as? TraceError, "\(error)")
            XCTAssertEqual(e.pid, pid)
            XCTAssertTrue(e.message.contains("attaching thread"), e.message)
        }
        XCTAssertTrue((box.errors.first as? TraceError)?.message.contains("PTRACE_INTERRUPT") ?? false)
        // This test thread did not attach either.
        XCTAssertThrowsError(try tracee.registers()) { XCTAssertTrue($0 is TraceError, "\($0)") }
        XCTAssertThrowsError(try tracee.setSignalMask(0)) { XCTAssertTrue($0 is TraceError, "\($0)") }
        XCTAssertEqual(kill(pid, 0), 0)
    }

    func testSeizeOfAnEndedProcessFails() throws {
        let children = makeChildren()
        let pid = try spawn("/bin/true", [], into: children)
        XCTAssertNotNil(children.waitForExit(pid, timeout: 10))
        XCTAssertThrowsError(try TracerThread.run { try Tracee.seize(tid: pid, pid: pid, options: []) }) { error in
            let e = error as? SystemError
            XCTAssertEqual(e?.errno, ESRCH, "\(error)")
            XCTAssertEqual(e?.pid, pid)
            XCTAssertTrue(e?.operation.contains("PTRACE_SEIZE") ?? false)
        }
    }

    func testRequestsOnARunningThreadFail() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let error = try TracerThread.run { () -> Error? in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            defer { try? t.interrupt(); _ = try? t.waitStop(); try? t.detach() }
            do { _ = try t.registers(); return nil } catch { return error }
        }
        XCTAssertEqual((error as? SystemError)?.errno, ESRCH, "register access needs a stopped tracee: \(String(describing: error))")
    }

    func testKilledTraceeIsReportedGone() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let stops = try TracerThread.run { () -> [Stop] in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [])
            try t.interrupt()
            var stops = [try t.waitStop()]
            kill(pid, SIGKILL)
            stops.append(try t.waitStop())
            return stops
        }
        XCTAssertEqual(stops, [.eventStop(signal: SIGTRAP), .killed(signal: SIGKILL)])
        XCTAssertTrue(stops[1].isGone)
    }

    func testExitEventWithTraceExit() throws {
        let children = makeChildren()
        let pid = try spawnSleeper(into: children)
        let (first, message, last) = try TracerThread.run { () -> (Stop, UInt64, Stop) in
            let t = try Tracee.seize(tid: pid, pid: pid, options: [.traceExit])
            kill(pid, SIGTERM)
            var stop = try t.waitStop()
            // SIGTERM is first offered to the tracer, then the exit event follows.
            if case .signalDelivery(let sig) = stop {
                try requireEqual(sig, SIGTERM, "signal offered")
                try t.resume(signal: sig)
                stop = try t.waitStop()
            }
            let message = try t.eventMessage()
            try t.resume()
            return (stop, message, try t.waitStop())
        }
        XCTAssertEqual(first, .event(.exit, signal: SIGTRAP))
        XCTAssertEqual(Stop(status: Int32(truncatingIfNeeded: message)), .killed(signal: SIGTERM), "the exit event carries the wait status")
        XCTAssertEqual(last, .killed(signal: SIGTERM))
    }
}
