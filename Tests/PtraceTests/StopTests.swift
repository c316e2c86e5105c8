import Glibc
import Ptrace
import XCTest

/// Stop decodes raw wait statuses as the kernel builds them.
final class StopTests: XCTestCase {
    /// A stop status: 0x7f in the low byte, the signal above, the ptrace event above that.
    func stopped(_ signal: Int32, event: Int32 = 0) -> Int32 {
        (event << 16) | (signal << 8) | 0x7f
    }

    func testExit() {
        XCTAssertEqual(Stop(status: 0), .exited(code: 0))
        XCTAssertEqual(Stop(status: 3 << 8), .exited(code: 3))
        XCTAssertEqual(Stop(status: 255 << 8), .exited(code: 255))
        XCTAssertTrue(Stop(status: 1 << 8).isGone)
        XCTAssertEqual(Stop(status: 3 << 8).description, "exited with status 3")
    }

    func testKilledBySignal() {
        XCTAssertEqual(Stop(status: SIGKILL), .killed(signal: SIGKILL))
        XCTAssertEqual(Stop(status: SIGTERM), .killed(signal: SIGTERM))
        XCTAssertEqual(Stop(status: SIGSEGV | 0x80), .killed(signal: SIGSEGV), "the core-dump bit is not part of the signal")
        XCTAssertEqual(Stop(status: 64), .killed(signal: 64))
        XCTAssertTrue(Stop(status: SIGKILL).isGone)
        XCTAssertEqual(Stop(status: SIGKILL).description, "killed by SIGKILL")
    }

    func testSignalDeliveryStop() {
        for sig in [SIGSEGV, SIGUSR1, SIGTRAP, SIGSTOP, SIGCHLD, Int32(34)] {
            XCTAssertEqual(Stop(status: stopped(sig)), .signalDelivery(signal: sig))
            XCTAssertFalse(Stop(status: stopped(sig)).isGone)
        }
        XCTAssertEqual(Stop(status: stopped(SIGUSR1)).description, "stopped to receive SIGUSR1")
    }

    func testSyscallStopNeedsTheTraceSysGoodBit() {
        XCTAssertEqual(Stop(status: stopped(SIGTRAP | 0x80)), .syscall)
        XCTAssertEqual(Stop(status: stopped(SIGTRAP)), .signalDelivery(signal: SIGTRAP))
    }

    func testEventStops() {
        // PTRACE_INTERRUPT, and a group stop of a seized thread.
        XCTAssertEqual(Stop(status: stopped(SIGTRAP, event: 128)), .eventStop(signal: SIGTRAP))
        XCTAssertEqual(Stop(status: stopped(SIGSTOP, event: 128)), .eventStop(signal: SIGSTOP))
        XCTAssertEqual(Stop(status: stopped(SIGTTIN, event: 128)), .eventStop(signal: SIGTTIN))
        XCTAssertFalse(Stop(status: stopped(SIGSTOP, event: 128)).isGone)
    }

    func testPtraceEvents() {
        let all: [PtraceEvent] = [.fork, .vfork, .clone, .exec, .vforkDone, .exit, .seccomp]
        for event in all {
            XCTAssertEqual(Stop(status: stopped(SIGTRAP, event: event.rawValue)), .event(event, signal: SIGTRAP), "\(event)")
        }
        XCTAssertEqual(Stop(status: stopped(SIGTRAP, event: 4)).description, "stopped at ptrace event exec")
    }

    func testUnknownEventReadsAsSignalDelivery() {
        XCTAssertEqual(Stop(status: stopped(SIGTRAP, event: 9)), .signalDelivery(signal: SIGTRAP))
    }

    func testEventNumbersAreTheKernels() {
        XCTAssertEqual(PtraceEvent.fork.rawValue, 1)
        XCTAssertEqual(PtraceEvent.clone.rawValue, 3)
        XCTAssertEqual(PtraceEvent.exec.rawValue, 4)
        XCTAssertEqual(PtraceEvent.exit.rawValue, 6)
        XCTAssertEqual(PtraceEvent.seccomp.rawValue, 7)
        XCTAssertEqual(PtraceEvent.stop.rawValue, 128)
    }

    func testSignalNames() {
        XCTAssertEqual(SignalNames.name(SIGHUP), "SIGHUP")
        XCTAssertEqual(SignalNames.name(SIGKILL), "SIGKILL")
        XCTAssertEqual(SignalNames.name(SIGCHLD), "SIGCHLD")
        XCTAssertEqual(SignalNames.name(SIGSYS), "SIGSYS")
        XCTAssertEqual(SignalNames.name(0), "signal 0")
        XCTAssertEqual(SignalNames.name(-1), "signal -1")
        XCTAssertEqual(SignalNames.name(65), "signal 65")
        XCTAssertTrue(SignalNames.name(40).hasPrefix("SIGRT"))
    }

    func testRealWaitStatusesOfAChild() throws {
        // The macros of <sys/wait.h> and Stop must agree on what the kernel actually reports.
        let children = makeChildren()
        let exiting = try spawn("/bin/sh", ["-c", "exit 7"], into: children)
        let exitStatus = try XCTUnwrap(children.waitForExit(exiting, timeout: 10))
        XCTAssertEqual(Stop(status: exitStatus), .exited(code: 7))

        let sleeper = try spawn("/bin/sleep", ["30"], into: children)
        kill(sleeper, SIGTERM)
        let killStatus = try XCTUnwrap(children.waitForExit(sleeper, timeout: 10))
        XCTAssertEqual(Stop(status: killStatus), .killed(signal: SIGTERM))
    }
}
