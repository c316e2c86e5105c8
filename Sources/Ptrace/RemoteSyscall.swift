import Glibc

/// Runs system calls inside a stopped thread: point its instruction
/// pointer at a `syscall` instruction, load the arguments, single-step,
/// read rax. Signals stay blocked while the thread is borrowed, or one
/// arriving mid-injection would be swallowed; the thread's own registers
/// and mask come back on finish(). All but SIGTRAP: each single step
/// raises one, and the kernel resets the handler of a blocked SIGTRAP it
/// raises to SIG_DFL, which would take a program's own handler away. An
/// ignored SIGTRAP is reset the same way, blocked or not: returnScratch
/// puts it back without a step.
/// CRTOOL_DEBUG_INJECT=1 traces every injected system call on stderr.
let debugInjection = getenv("CRTOOL_DEBUG_INJECT") != nil

public final class RemoteSyscall {
    public let tracee: Tracee
    /// Address of a `syscall` instruction (0f 05) in the tracee.
    public var site: UInt64
    /// A read-write area in the tracee for arguments passed by pointer.
    public var scratch: UInt64 = 0
    public var scratchSize: Int = 0
    public let memory: RemoteMemory
    /// The thread's own registers, given back by finish(); `stepOut`
    /// moves them on.
    var saved: Registers
    private let savedMask: UInt64
    /// Whether the thread holds crtool's registers and signal mask rather
    /// than its own (`finish`).
    var borrowed = true
    /// Address of the batch runner's code in the tracee, once
    /// `installBatchRunner` put it there; until then `callAll` runs its
    /// calls one by one.
    public internal(set) var batchRunner: UInt64?
    /// Address of the parking runner (`installParkingRunner`), and where
    /// the thread is parked once `park` made it go home by itself.
    public internal(set) var parkingRunner: UInt64?
    var parking: Parking?
    /// The thread's XSAVE state, once read (`originalExtendedState`).
    var extendedStateRead: [UInt8]?
    /// Threads and processes the kernel attached to us during a call
    /// (injected clone3), reported with their first stop still pending.
    public private(set) var newTasks: [Int32] = []

    public init(tracee: Tracee, site: UInt64, memory: RemoteMemory? = nil) throws {
        self.tracee = tracee
        self.site = site
        self.memory = memory ?? RemoteMemory(pid: tracee.pid)
        saved = try tracee.registers()
        savedMask = try tracee.signalMask()
        try tracee.setSignalMask(Self.blockedWhileBorrowed)
    }

    /// Every signal but SIGTRAP (see above).
    static let blockedWhileBorrowed = ~(UInt64(1) << UInt64(SIGTRAP - 1))

    /// The registers the thread had before it was borrowed, or where
    /// `stepOut` took it since.
    public var originalRegisters: Registers { saved }
    public var originalSignalMask: UInt64 { savedMask }

    /// The thread's XSAVE state, read once for the frames that take it
    /// home: the calls crtool runs in it leave that state alone (the
    /// kernel keeps it across system calls, and the runners use general
    /// registers only); `stepOut`, which runs the thread's own code,
    /// reads it anew.
    public func originalExtendedState() throws -> [UInt8] {
        if let state = extendedStateRead { return state }
        let state = try tracee.extendedState()
        extendedStateRead = state
        return state
    }

    /// Runs one system call and returns its raw result (negative errno on failure).
    public func call(_ nr: Int64, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0,
                     _ a4: UInt64 = 0, _ a5: UInt64 = 0, _ a6: UInt64 = 0) throws -> Int64 {
        if let place = parking {
            return try parkedTrip([SyscallRequest(nr, a1, a2, a3, a4, a5, a6)], table: scratchSize / 2, place: place)[0]
        }
        try borrow()
        let regs = registers(for: nr, a1, a2, a3, a4, a5, a6)
        try tracee.setRegisters(regs)
        try tracee.singleStep()
        while true {
            let stop = try tracee.waitStop()
            switch stop {
            case .signalDelivery(let sig) where sig == SIGTRAP:
                let after = try tracee.registers()
                if after.rip == site {
                    // A thread stopped inside a system call (an exec stop)
                    // reports the step on that call's exit, before our
                    // instruction ran, and that call's return value has
                    // overwritten rax: load the registers again and step.
                    try tracee.setRegisters(regs)
                    try tracee.singleStep()
                    continue
                }
                if debugInjection {
                    fputs("inject \(SyscallNames.name(nr))(0x\(String(a1, radix: 16)), 0x\(String(a2, radix: 16)), 0x\(String(a3, radix: 16))) in \(tracee.tid) = \(after.result) rip=0x\(String(after.rip, radix: 16))\n", stderr)
                }
                return after.result
            case .event(let event, _) where event == .clone || event == .fork || event == .vfork:
                newTasks.append(Int32(truncatingIfNeeded: try tracee.eventMessage()))
                try tracee.singleStep()
            case .eventStop:
                try tracee.singleStep()
            default:
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(stop) while running an injected \(SyscallNames.name(nr))")
            }
        }
    }

    /// Runs one system call by stopping at its entry and its exit
    /// (PTRACE_SYSCALL) instead of single-stepping over it. Slower (two
    /// stops), but it raises no SIGTRAP, so it is how an ignored SIGTRAP
    /// is put back after the single steps reset it. Needs a tracee seized
    /// with PTRACE_O_TRACESYSGOOD.
    public func callAtSyscallStops(_ nr: Int64, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0,
                                   _ a4: UInt64 = 0, _ a5: UInt64 = 0, _ a6: UInt64 = 0) throws -> Int64 {
        try borrow()
        let regs = registers(for: nr, a1, a2, a3, a4, a5, a6)
        try tracee.setRegisters(regs)
        try tracee.resumeToSyscallStop()
        var entered = false
        var foreignStops = 0
        while true {
            let stop = try tracee.waitStop()
            if case .eventStop = stop, foreignStops < 4 {
                // A stop asked for before this call (an interrupt, a group
                // stop) reported first: no instruction ran.
                foreignStops += 1
                try tracee.resumeToSyscallStop()
                continue
            }
            guard stop == .syscall else {
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(stop) while running an injected \(SyscallNames.name(nr)) at its system-call stops")
            }
            let now = try tracee.registers()
            if entered { return now.result }
            if now.rip == site + 2 && now.origRax == UInt64(bitPattern: nr) {
                entered = true
            } else {
                // The exit of a call the thread was stopped inside, before
                // ours ran: load our registers again.
                foreignStops += 1
                if foreignStops > 6 {
                    throw TraceError(pid: tracee.tid, "thread \(tracee.tid) never entered the injected \(SyscallNames.name(nr))")
                }
                try tracee.setRegisters(regs)
            }
            try tracee.resumeToSyscallStop()
        }
    }

    /// The last calls before the thread is given back, both run without
    /// a single step: SIGTRAP made ignored again if it was (every step
    /// raises a SIGTRAP, and the kernel resets an ignored signal it raises
    /// to SIG_DFL), keeping its flags and mask, with the last 32 bytes of
    /// the scratch area as room for the kernel's struct sigaction; then
    /// the scratch area unmapped, which may hold the syscall instruction
    /// itself at its start (the exit stop comes before the next fetch).
    /// A parked thread runs the first two as parked calls, which raise no
    /// SIGTRAP either; the unmapping takes its frame and runner away, so
    /// it is run at `site` and the thread is no longer parked after it.
    /// With `sigreturn` and `home`, the unmapping runs with a home frame
    /// on the thread's stack (`callGoingHome`), returned to be removed
    /// once the thread is given back.
    @discardableResult
    public func returnScratch(at address: UInt64, size: UInt64, trapIgnored: Bool,
                              goingHomeThrough sigreturn: UInt64? = nil, returningTo home: Registers? = nil) throws -> StackHome? {
        if trapIgnored {
            let action = address + size - 32
            precondition(size >= 64 && !(action..<(address + size)).contains(site))
            func sigaction(_ what: String, _ new: UInt64, _ old: UInt64) throws {
                if isParked {
                    try checked(what, Syscall.rtSigaction, UInt64(SIGTRAP), new, old, 8)
                } else {
                    try checkedAtSyscallStops(what, Syscall.rtSigaction, UInt64(SIGTRAP), new, old, 8)
                }
            }
            try sigaction("reading SIGTRAP's action", 0, action)
            try memory.write([UInt8].le(UInt64(1)), at: action) // SIG_IGN
            try sigaction("ignoring SIGTRAP", action, 0)
        }
        parking = nil
        guard let sigreturn, let home else {
            try checkedAtSyscallStops("removing the scratch area", Syscall.munmap, address, size)
            return nil
        }
        let (r, stackHome) = try callGoingHome(through: sigreturn, returningTo: home, Syscall.munmap, address, size)
        do {
            try succeeded(r, Syscall.munmap, "removing the scratch area")
        } catch {
            try? stackHome?.remove(from: self)
            throw error
        }
        return stackHome
    }

    /// Like checked, at the call's system-call stops.
    @discardableResult
    public func checkedAtSyscallStops(_ what: @autoclosure () -> String, _ nr: Int64, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0,
                                      _ a4: UInt64 = 0, _ a5: UInt64 = 0, _ a6: UInt64 = 0) throws -> UInt64 {
        try succeeded(try callAtSyscallStops(nr, a1, a2, a3, a4, a5, a6), nr, what())
    }

    @discardableResult
    private func succeeded(_ r: Int64, _ nr: Int64, _ what: @autoclosure () -> String) throws -> UInt64 {
        if r < 0 && r > -4096 {
            throw SystemError("injected \(SyscallNames.name(nr)) (\(what())) in thread \(tracee.tid)", pid: tracee.pid, errno: Int32(-r))
        }
        return UInt64(bitPattern: r)
    }

    /// The thread's own registers with `nr` and its arguments loaded and
    /// the instruction pointer on the syscall site.
    private func registers(for nr: Int64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, _ a4: UInt64, _ a5: UInt64, _ a6: UInt64) -> Registers {
        var regs = saved
        regs.rax = UInt64(bitPattern: nr)
        regs.origRax = UInt64.max
        regs.rdi = a1; regs.rsi = a2; regs.rdx = a3
        regs.r10 = a4; regs.r8 = a5; regs.r9 = a6
        regs.rip = site
        return regs
    }

    /// Like call(), but a negative result becomes a SystemError naming the syscall.
    @discardableResult
    public func checked(_ what: @autoclosure () -> String, _ nr: Int64, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0,
                        _ a4: UInt64 = 0, _ a5: UInt64 = 0, _ a6: UInt64 = 0) throws -> UInt64 {
        try succeeded(try call(nr, a1, a2, a3, a4, a5, a6), nr, what())
    }

    /// Takes the tasks attached during calls so far.
    public func takeNewTasks() -> [Int32] {
        defer { newTasks = [] }
        return newTasks
    }

    /// Copies `bytes` into the scratch area at `offset` and returns their remote address.
    @discardableResult
    public func stage(_ bytes: [UInt8], at offset: Int = 0) throws -> UInt64 {
        guard scratch != 0, offset + bytes.count <= scratchSize else {
            throw TraceError(pid: tracee.pid, "injection scratch area too small for \(bytes.count) bytes")
        }
        try memory.write(bytes, at: scratch + UInt64(offset))
        return scratch + UInt64(offset)
    }

    /// Stages a NUL-terminated string.
    public func stage(string: String, at offset: Int = 0) throws -> UInt64 {
        try stage(Array(string.utf8) + [0], at: offset)
    }

    public func fetch(at offset: Int, count: Int) throws -> [UInt8] {
        try memory.read(at: scratch + UInt64(offset), count: count)
    }

    /// Gives the thread its own registers and signal mask back; a later
    /// call borrows it again. A thread left borrowed while it stays
    /// stopped would, if crtool died, go on from the injection site with
    /// crtool's registers, and crash (unless parked); one given back goes
    /// on as it was. A parked thread gets its mask first: between the two
    /// it stands where it goes home by itself, and its frame puts the
    /// mask back too; any other gets its registers first, so that it
    /// never runs crtool's registers with its own mask.
    public func finish() throws {
        if isParked {
            try tracee.setSignalMask(savedMask)
            try tracee.setRegisters(saved)
        } else {
            try tracee.setRegisters(saved)
            try tracee.setSignalMask(savedMask)
        }
        borrowed = false
    }

    /// Every signal blocked again (a step must not deliver one; a parked
    /// trip must not run a handler) before a call on a thread given back.
    func borrow() throws {
        guard !borrowed else { return }
        try tracee.setSignalMask(parking.map { Self.blockedWhileParked(endSignal: $0.endSignal) } ?? Self.blockedWhileBorrowed)
        borrowed = true
    }
}

extension Array where Element == UInt8 {
    /// Little-endian bytes of integers, for building syscall argument structs.
    public static func le<T: FixedWidthInteger>(_ values: T...) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values {
            var x = v.littleEndian
            for _ in 0..<MemoryLayout<T>.size {
                out.append(UInt8(truncatingIfNeeded: x))
                x = x >> 8
            }
        }
        return out
    }

    /// Reads a little-endian integer at `offset`.
    public func le<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() {
            v = (v << 8) | T(self[offset + i])
        }
        return v
    }
}
