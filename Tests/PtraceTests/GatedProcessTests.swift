import Foundation
import Glibc
import Ptrace
import XCTest

final class GatedProcessTests: XCTestCase {
    struct ExecFacts {
        var stop: Stop
        var formerTID: UInt64
        var commandAtExec: String
        var stepped: Registers
        var maps: [MapEntry]
        var auxv: [UInt64: UInt64]
        var injectedPID: Int64
        var restored: Registers
        var original: Registers
    }

    func testSeizedBeforeTheGateOpensItStopsAtExecAndRunsOn() throws {
        let children = makeChildren()
        let gated = try GatedProcess.spawn(pid: 0, executable: "/bin/sleep", arguments: ["30"])
        children.adopt(gated.pid)
        XCTAssertGreaterThan(gated.pid, 0)
        XCTAssertEqual(try ProcStat.read(pid: gated.pid).ppid, getpid())

        let facts = try TracerThread.run { () -> ExecFacts in
            let t = try Tracee.seize(tid: gated.pid, pid: gated.pid, options: [.traceExec, .exitKill])
            try gated.open()
            let stop = try t.waitStop()
            let formerTID = try t.eventMessage()
            let command = try ProcStat.read(pid: gated.pid).command
            try t.stepOutOfSyscall()
            let stepped = try t.registers()
            let maps = try Maps.read(pid: gated.pid)
            let words = try Auxv.read(pid: gated.pid)
            var auxv: [UInt64: UInt64] = [:]
            for i in stride(from: 0, to: words.count - 1, by: 2) { auxv[words[i]] = words[i + 1] }
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: gated.pid, maps: maps))
            let injected = try remote.call(Syscall.getpid)
            try remote.finish()
            let restored = try t.registers()
            try t.detach()
            return ExecFacts(stop: stop, formerTID: formerTID, commandAtExec: command, stepped: stepped, maps: maps,
                             auxv: auxv, injectedPID: injected, restored: restored, original: remote.originalRegisters)
        }

        XCTAssertEqual(facts.stop, .event(.exec, signal: SIGTRAP))
        XCTAssertEqual(facts.formerTID, UInt64(gated.pid))
        XCTAssertEqual(facts.commandAtExec, "sleep")
        XCTAssertEqual(facts.stepped.rax, 0, "execve returned 0")
        XCTAssertEqual(facts.stepped.interruptedSyscall, 59, "the step is reported on execve's way out")

        // Out of execve, before the first instruction: at the dynamic loader's entry.
        let loader = try XCTUnwrap(facts.maps.first { $0.path?.contains("ld-linux") == true && $0.offset == 0 })
        XCTAssertEqual(facts.auxv[7], loader.start, "AT_BASE is where the loader is mapped")
        let entryMapping = try XCTUnwrap(facts.maps.first { $0.start <= facts.stepped.rip && facts.stepped.rip < $0.end })
        XCTAssertTrue(entryMapping.execute)
        XCTAssertEqual(entryMapping.path, loader.path)
        let stack = try XCTUnwrap(facts.maps.first { $0.path == "[stack]" })
        XCTAssertTrue(stack.start <= facts.stepped.rsp && facts.stepped.rsp < stack.end)
        let program = try XCTUnwrap(facts.maps.first { $0.start <= facts.auxv[9]! && facts.auxv[9]! < $0.end }, "AT_ENTRY")
        XCTAssertTrue(program.execute)
        XCTAssertEqual(program.path.map { URL(fileURLWithPath: $0).lastPathComponent }, "sleep")

        XCTAssertEqual(facts.injectedPID, Int64(gated.pid))
        XCTAssertEqual(facts.restored, facts.original)
        XCTAssertEqual(facts.original, facts.stepped)

        try waitUntil("the exec'd sleep reaches its nanosleep") { isSleeping(gated.pid) }
        XCTAssertEqual(try ProcStat.read(pid: gated.pid).command, "sleep")
    }

    func testChosenPID() throws {
        let children = makeChildren()
        let pidMax = Int32(try ProcFile.text("/proc/sys/kernel/pid_max").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 32768
        var candidate = getpid() + 7919
        var gated: GatedProcess?
        var lastError: Error?
        for _ in 0..<20 {
            if candidate >= pidMax { candidate = 301 + candidate % 1000 }
            if !ProcFile.exists("/proc/\(candidate)") {
                do {
                    gated = try GatedProcess.spawn(pid: candidate, executable: "/bin/sleep", arguments: ["30"])
                    break
                } catch {
                    lastError = error
                }
            }
            candidate += 13
        }
        let g = try XCTUnwrap(gated, "no free pid taken: \(String(describing: lastError))")
        children.adopt(g.pid)
        XCTAssertEqual(g.pid, candidate)
        XCTAssertEqual(try ProcStat.read(pid: candidate).pid, candidate)
        // Held at the gate: still the forked copy of this process, blocked in read.
        try waitUntil("the child waits at its gate") { blockedSyscall(candidate) == 0 }
        g.abandon()
        children.forget(g.pid)
        XCTAssertFalse(ProcFile.exists("/proc/\(candidate)"), "abandon kills and reaps")
    }

    func testTakenPIDFails() throws {
        XCTAssertThrowsError(try GatedProcess.spawn(pid: getpid(), executable: "/bin/true", arguments: [])) { error in
            let e = error as? SystemError
            XCTAssertEqual(e?.errno, EEXIST, "\(error)")
            XCTAssertTrue(e?.operation.contains("set_tid") ?? false)
        }
    }

    func testOpeningTheGateRunsTheProgram() throws {
        let children = makeChildren()
        let g = try GatedProcess.spawn(pid: 0, executable: "/bin/sh", arguments: ["-c", "exit 5"])
        children.adopt(g.pid)
        try g.open()
        let status = try XCTUnwrap(children.waitForExit(g.pid, timeout: 10))
        XCTAssertEqual(Stop(status: status), .exited(code: 5))
    }

    func testMissingProgramExits127() throws {
        let children = makeChildren()
        let g = try GatedProcess.spawn(pid: 0, executable: "/no/such/program", arguments: [])
        children.adopt(g.pid)
        try g.open()
        let status = try XCTUnwrap(children.waitForExit(g.pid, timeout: 10))
        XCTAssertEqual(Stop(status: status), .exited(code: 127))
    }

    func testAbandonKillsAndReapsTheHeldChild() throws {
        let children = makeChildren()
        let g = try GatedProcess.spawn(pid: 0, executable: "/bin/sleep", arguments: ["30"])
        children.adopt(g.pid)
        g.abandon()
        children.forget(g.pid)
        XCTAssertFalse(ProcFile.exists("/proc/\(g.pid)"))
    }

    /// An injection straight at an exec stop, without stepping out of the
    /// execve first, must still run the requested call, not the one the
    /// execve's return value would name.
    func testInjectionAtAnExecStopWithoutSteppingOut() throws {
        let children = makeChildren()
        let gated = try GatedProcess.spawn(pid: 0, executable: "/bin/sleep", arguments: ["30"])
        children.adopt(gated.pid)
        let (stop, results) = try TracerThread.run { () -> (Stop, [Int64]) in
            let t = try Tracee.seize(tid: gated.pid, pid: gated.pid, options: [.traceExec])
            try gated.open()
            let stop = try t.waitStop()
            let remote = try RemoteSyscall(tracee: t, site: try SyscallSite.inVDSO(pid: gated.pid, maps: try Maps.read(pid: gated.pid)))
            let r = [try remote.call(Syscall.getpid, 9999), try remote.call(Syscall.getpid)]
            try remote.finish()
            try t.detach()
            return (stop, r)
        }
        XCTAssertEqual(stop, .event(.exec, signal: SIGTRAP))
        XCTAssertEqual(results, [Int64(gated.pid), Int64(gated.pid)])
    }
}
