import CSupport
import Glibc

/// A home frame the thread keeps on its own stack for one call: the two
/// calls parking cannot cover, the mapping of the scratch area (nothing
/// of crtool's is in the thread yet) and its unmapping (which takes the
/// parking frame and runner away).
///
/// The frame goes below the stack pointer and its red zone, where a
/// signal handler's frame would go, and what it covers is written back
/// once the thread stands elsewhere. The thread is sent to the process's
/// own rt_sigreturn code (`SigreturnCode`) with its stack pointer at the
/// frame, and run to that rt_sigreturn's entry stop, where crtool makes
/// the call another one: the number and arguments changed, the return
/// address back at the rt_sigreturn code. Should crtool die at any
/// moment, the thread goes home: before the entry stop by the
/// rt_sigreturn itself, after it by the one it returns to.
public struct StackHome {
    let address: UInt64
    let covered: [UInt8]

    /// Writes back what the frame covered; after the thread's registers
    /// are its own or point at another home.
    public func remove(from inj: RemoteSyscall) throws {
        try inj.memory.write(covered, at: address)
    }
}

extension RemoteSyscall {
    /// Runs one call as described above, with a home frame taking the
    /// thread back to `registers` (its own, restarted as
    /// `SyscallRestart.resumable` makes them). Returns the call's raw
    /// result and the frame, to be removed once the thread stands
    /// elsewhere (it waits at the rt_sigreturn code meanwhile); nil for
    /// the frame when the stack has no room for it, and the call runs as
    /// `callAtSyscallStops` does.
    public func callGoingHome(through sigreturn: UInt64, returningTo registers: Registers,
                              _ nr: Int64, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0,
                              _ a4: UInt64 = 0, _ a5: UInt64 = 0, _ a6: UInt64 = 0) throws -> (Int64, StackHome?) {
        let state = try originalExtendedState()
        let size = SignalReturnFrame.size(extendedStateSize: state.count)
        let address = (saved.rsp &- Self.redZone &- UInt64(size)) & ~63
        guard let covered = try? memory.read(at: address, count: size) else {
            return (try callAtSyscallStops(nr, a1, a2, a3, a4, a5, a6), nil)
        }
        let home = StackHome(address: address, covered: covered)
        try memory.write(SignalReturnFrame.bytes(at: address, registers: registers, signalMask: originalSignalMask,
                                                 extendedState: state), at: address)
        do {
            var regs = saved
            regs.origRax = UInt64.max
            regs.rip = sigreturn
            regs.rsp = address + 8
            // Registers first: a thread given back would otherwise hold
            // its own registers with crtool's mask for a moment; at the
            // rt_sigreturn code, the frame puts its mask back.
            try tracee.setRegisters(regs)
            try borrow()
            let entry = try runToSigreturnEntry(from: regs, at: sigreturn)
            var call = entry
            call.origRax = UInt64(bitPattern: nr)
            call.rdi = a1; call.rsi = a2; call.rdx = a3
            call.r10 = a4; call.r8 = a5; call.r9 = a6
            call.rip = sigreturn
            try tracee.setRegisters(call)
            try tracee.resumeToSyscallStop()
            let exit = try tracee.waitStop()
            guard exit == .syscall else {
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(exit) while running an injected \(SyscallNames.name(nr)) in place of rt_sigreturn")
            }
            return (try tracee.registers().result, home)
        } catch {
            try? home.remove(from: self)
            throw error
        }
    }

    /// Resumes the thread at `sigreturn` up to the entry stop of its
    /// rt_sigreturn, and returns the registers there. The exit of a call
    /// the thread was stopped inside may come first, and a stop asked for
    /// before: both are let pass.
    private func runToSigreturnEntry(from regs: Registers, at sigreturn: UInt64) throws -> Registers {
        for _ in 0..<6 {
            try tracee.resumeToSyscallStop()
            let stop = try tracee.waitStop()
            if case .eventStop = stop { continue }
            guard stop == .syscall else {
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(stop) on its way to rt_sigreturn at 0x\(String(sigreturn, radix: 16))")
            }
            let now = try tracee.registers()
            if now.rip == sigreturn + UInt64(SigreturnCode.bytes.count) && now.origRax == UInt64(Syscall.rtSigreturn) {
                return now
            }
            try tracee.setRegisters(regs)
        }
        throw TraceError(pid: tracee.tid, "thread \(tracee.tid) never reached the rt_sigreturn at 0x\(String(sigreturn, radix: 16))")
    }

    /// The 128 bytes below the stack pointer a function may use without
    /// moving it (the x86-64 ABI's red zone).
    static let redZone: UInt64 = 128
}

/// Where a process keeps the code a signal handler returns through:
/// `mov $15, %rax; syscall` (rt_sigreturn), as glibc's and musl's
/// __restore_rt and Go's runtime have it.
public enum SigreturnCode {
    static let bytes: [UInt8] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]

    /// Offsets found in files already looked through, by device, inode
    /// and mapping offset: every process of a tree maps the same libc.
    nonisolated(unsafe) private static var known: [String: UInt64?] = [:]
    private static let lock = Lock()

    /// The code's address in `pid`, looked for in its executable file
    /// mappings, the C library's first; nil when none holds it.
    public static func find(pid: Int32, maps: [MapEntry], memory: RemoteMemory) -> UInt64? {
        let candidates = maps.filter { $0.execute && $0.isFileBacked }
            .sorted { ($0.path?.contains("libc") ?? false) && !($1.path?.contains("libc") ?? false) }
        for m in candidates {
            let key = "\(m.device):\(m.inode):\(m.offset):\(m.size)"
            let cached = lock.withLock { known[key] }
            let offset: UInt64?
            if let cached {
                offset = cached
            } else {
                guard let text = try? memory.read(at: m.start, count: Int(m.size)) else { continue }
                offset = search(text)
                lock.withLock { known[key] = offset }
            }
            if let offset { return m.start + offset }
        }
        return nil
    }

    static func search(_ text: [UInt8]) -> UInt64? {
        let offset = text.withUnsafeBytes { haystack in
            bytes.withUnsafeBytes { cr_find_bytes(haystack.baseAddress, haystack.count, $0.baseAddress, $0.count) }
        }
        return offset < 0 ? nil : UInt64(offset)
    }
}
