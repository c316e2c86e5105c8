import CSupport
import Glibc

/// ptrace request numbers and options (glibc declares them as an enum
/// Swift imports awkwardly; the values are ABI).
enum PtraceRequest {
    static let peekData: Int = 2
    static let cont: Int = 7
    static let kill: Int = 8
    static let singleStep: Int = 9
    static let syscall: Int = 24
    static let getRegs: Int = 12
    static let setRegs: Int = 13
    static let detach: Int = 17
    static let getEventMsg: Int = 0x4201
    static let getRegSet: Int = 0x4204
    static let setRegSet: Int = 0x4205
    static let seize: Int = 0x4206
    static let interrupt: Int = 0x4207
    static let listen: Int = 0x4208
    static let peekSigInfo: Int = 0x4209
    static let getSigMask: Int = 0x420a
    static let setSigMask: Int = 0x420b
    static let seccompGetFilter: Int = 0x420c
    static let getRseqConfiguration: Int = 0x420f
}

public struct PtraceOptions: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let traceSysGood = PtraceOptions(rawValue: 0x1)
    public static let traceFork = PtraceOptions(rawValue: 0x2)
    public static let traceVfork = PtraceOptions(rawValue: 0x4)
    public static let traceClone = PtraceOptions(rawValue: 0x8)
    public static let traceExec = PtraceOptions(rawValue: 0x10)
    public static let traceExit = PtraceOptions(rawValue: 0x40)
    public static let exitKill = PtraceOptions(rawValue: 0x100000)
    public static let suspendSeccomp = PtraceOptions(rawValue: 0x200000)
}

/// Regset note types for PTRACE_GETREGSET.
enum RegSet {
    static let general: UInt64 = 1        // NT_PRSTATUS
    static let xstate: UInt64 = 0x202     // NT_X86_XSTATE
}

@inline(__always)
func ptraceCall(_ request: Int, _ tid: Int32, _ addr: UInt64 = 0, _ data: UInt64 = 0, _ what: @autoclosure () -> String) throws -> Int {
    let r = cr_ptrace(request, tid, addr, data)
    if r == -1 { throw SystemError(what(), pid: tid) }
    return r
}
