import Glibc

/// One system call of a batch: its number and arguments. Only calls that
/// take their arguments as values belong in a batch; one that reads a
/// staged buffer would find the batch's table over it.
public struct SyscallRequest: Sendable {
    public var nr: Int64
    public var args: [UInt64]

    public init(_ nr: Int64, _ args: UInt64...) {
        precondition(args.count <= 6)
        self.nr = nr
        self.args = args
    }
}

/// Many system calls for one trip into the tracee. `call` costs a
/// register load, a single step, a wait and a register read per call,
/// which a restore of tens of thousands of VMAs pays tens of thousands of
/// times; the batch runner is a loop of machine code in the tracee that
/// runs a table of calls from the scratch area, writing each result back
/// into the table, and stops at an int3 once the table is done.
extension RemoteSyscall {
    /// rbx: the table, r12: its length; each entry is the number, six
    /// arguments, then the result (8 bytes each):
    ///
    ///     loop: test r12, r12 / jz done
    ///           mov rax, [rbx] / mov rdi, [rbx+8] / mov rsi, [rbx+16]
    ///           mov rdx, [rbx+24] / mov r10, [rbx+32] / mov r8, [rbx+40]
    ///           mov r9, [rbx+48] / syscall / mov [rbx+56], rax
    ///           add rbx, 64 / dec r12 / jmp loop
    ///     done: int3
    static let batchRunnerCode: [UInt8] = [
        0x4d, 0x85, 0xe4, 0x74, 0x2a,
        0x48, 0x8b, 0x03, 0x48, 0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73, 0x10,
        0x48, 0x8b, 0x53, 0x18, 0x4c, 0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28,
        0x4c, 0x8b, 0x4b, 0x30, 0x0f, 0x05, 0x48, 0x89, 0x43, 0x38,
        0x48, 0x83, 0xc3, 0x40, 0x49, 0xff, 0xcc, 0xeb, 0xd1,
        0xcc,
    ]
    static let batchEntrySize = 64

    /// Writes the runner at `address`, which must be executable memory of
    /// the tracee that nothing else uses (48 bytes).
    public func installBatchRunner(at address: UInt64) throws {
        try memory.write(Self.batchRunnerCode, at: address)
        batchRunner = address
    }

    /// Uses the runner `other` installed: another thread of the same
    /// process, whose memory holds it already.
    public func useBatchRunner(of other: RemoteSyscall) {
        batchRunner = other.batchRunner
    }

    /// Runs every call in order and returns each raw result (negative
    /// errno on failure), a later call running whatever an earlier one
    /// returned. The table takes the upper half of the scratch area, so a
    /// long batch runs in several trips.
    public func callAll(_ requests: [SyscallRequest]) throws -> [Int64] {
        let tableOffset = scratchSize / 2
        if let place = parking {
            // One entry of each trip is the end signal's.
            let perTrip = (scratchSize - tableOffset) / Self.batchEntrySize - 1
            return try stride(from: 0, to: requests.count, by: perTrip).flatMap { start in
                try parkedTrip(requests[start..<min(requests.count, start + perTrip)], table: tableOffset, place: place)
            }
        }
        guard let runner = batchRunner, requests.count > 1 else {
            return try requests.map { r in
                let a = r.args + [UInt64](repeating: 0, count: 6 - r.args.count)
                return try call(r.nr, a[0], a[1], a[2], a[3], a[4], a[5])
            }
        }
        try borrow()
        let perTrip = (scratchSize - tableOffset) / Self.batchEntrySize
        var results: [Int64] = []
        results.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let trip = requests[start..<min(requests.count, start + perTrip)]
            let address = try stage(Self.table(of: trip), at: tableOffset)
            var regs = originalRegisters
            // Not inside a system call: the kernel would restart one, and
            // move rip back over the runner's first bytes.
            regs.origRax = UInt64.max
            regs.rip = runner
            regs.rbx = address
            regs.r12 = UInt64(trip.count)
            try tracee.setRegisters(regs)
            var foreign = 0
            let stop = try resumeAfterStopsAskedBefore(counting: &foreign)
            let after = try tracee.registers()
            guard case .signalDelivery(let sig) = stop, sig == SIGTRAP, after.rip == runner + UInt64(Self.batchRunnerCode.count) else {
                throw TraceError(pid: tracee.tid, "thread \(tracee.tid) \(stop) at 0x\(String(after.rip, radix: 16)) while running \(trip.count) injected calls from 0x\(String(runner, radix: 16))")
            }
            results += try tableResults(at: tableOffset, count: trip.count)
            if debugInjection {
                fputs("inject \(trip.count) calls in \(tracee.tid) from 0x\(String(runner, radix: 16))\n", stderr)
            }
            start += trip.count
        }
        return results
    }

    /// Resumes the tracee and returns its next stop that is not one asked
    /// for before the resume: an interrupt sent while the thread was in
    /// another stop (an exec event of a thread racing the freeze) stays
    /// pending and reports as soon as the thread runs, before any
    /// instruction does. `foreign` counts the stops passed, up to 16 in
    /// all, a count a caller may share with foreign stops of its own.
    func resumeAfterStopsAskedBefore(counting foreign: inout Int) throws -> Stop {
        while true {
            try tracee.resume()
            let stop = try tracee.waitStop()
            guard case .eventStop = stop, foreign < 16 else { return stop }
            foreign += 1
        }
    }

    /// A trip's table as the runner reads it: each call's number, six
    /// arguments and room for its result.
    static func table(of calls: some Collection<SyscallRequest>) -> [UInt8] {
        var table: [UInt8] = []
        table.reserveCapacity(calls.count * batchEntrySize)
        for r in calls {
            table += [UInt8].le(UInt64(bitPattern: r.nr))
            for i in 0..<7 { table += [UInt8].le(i < r.args.count ? r.args[i] : 0) }
        }
        return table
    }

    /// The results the runner wrote into the first `count` entries of the
    /// table at `offset` of the scratch area.
    func tableResults(at offset: Int, count: Int) throws -> [Int64] {
        let written = try fetch(at: offset, count: count * Self.batchEntrySize)
        return (0..<count).map { Int64(bitPattern: written.le(UInt64.self, at: $0 * Self.batchEntrySize + 56)) }
    }
}

extension RemoteSyscall {
    /// Runs `calls` and then `unchecked` in one trip (callAll) and fails,
    /// as `checked` does, naming the first of `calls` that returned an
    /// error; `unchecked` are calls whose errors are answers. Returns
    /// every result, in order.
    public func checkedAll(_ calls: [(what: String, request: SyscallRequest)], alsoRunning unchecked: [SyscallRequest] = []) throws -> [Int64] {
        let results = try callAll(calls.map(\.request) + unchecked)
        try requireSucceeded(results, of: calls.map { (what: $0.what, request: $0.request) })
        return results
    }

    /// Fails, as `checked` does, naming the first of `calls` with a `what`
    /// whose result in `results` (in the same order) is an error; a call
    /// without one is one whose error is an answer, or checked already.
    public func requireSucceeded(_ results: [Int64], of calls: [(what: String?, request: SyscallRequest)]) throws {
        for (r, call) in zip(results, calls) {
            guard let what = call.what, r < 0, r > -4096 else { continue }
            throw SystemError("injected \(SyscallNames.name(call.request.nr)) (\(what)) in thread \(tracee.tid)",
                              pid: tracee.pid, errno: Int32(-r))
        }
    }
}
