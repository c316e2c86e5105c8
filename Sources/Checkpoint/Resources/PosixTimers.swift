import Ptrace

/// POSIX timers: listed in /proc/PID/timers, their time left read by an
/// injected timer_gettime, made again with their own ids
/// (PR_TIMER_CREATE_RESTORE_IDS lets timer_create take the id it is
/// given) and re-armed with the time they had left.
enum PosixTimers {
    static func collect(pid: Int32, with inj: RemoteSyscall) throws -> [PosixTimerImage] {
        let text = (try? ProcFile.text("/proc/\(pid)/timers", pid: pid)) ?? ""
        var result: [PosixTimerImage] = []
        for block in parse(text) {
            _ = try inj.checked("timer_gettime of timer \(block.id)", Syscall.timerGettime, UInt64(block.id), inj.scratch)
            let spec = try inj.fetch(at: 0, count: 32)
            var timer = block
            timer.intervalNanoseconds = spec.le(UInt64.self, at: 0) * 1_000_000_000 + spec.le(UInt64.self, at: 8)
            timer.valueNanoseconds = spec.le(UInt64.self, at: 16) * 1_000_000_000 + spec.le(UInt64.self, at: 24)
            result.append(timer)
        }
        return result
    }

    /// Blocks of "ID: n / signal: s/value / notify: kind/pid.n|tid.n / ClockID: c".
    static func parse(_ text: String) -> [PosixTimerImage] {
        var result: [PosixTimerImage] = []
        var current: PosixTimerImage?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "ID":
                if let c = current { result.append(c) }
                current = PosixTimerImage(id: Int32(parts[1]) ?? -1, clock: 0, notify: 0, signal: 0, value: 0, thread: 0,
                                          intervalNanoseconds: 0, valueNanoseconds: 0)
            case "signal":
                let sv = parts[1].split(separator: "/")
                current?.signal = Int32(sv.first ?? "") ?? 0
                current?.value = sv.count > 1 ? UInt64(sv[1], radix: 16) ?? 0 : 0
            case "notify":
                // "signal|none|thread" (SIGEV_SIGNAL, SIGEV_NONE,
                // SIGEV_THREAD), then "/tid.N" for SIGEV_THREAD_ID (to
                // thread N) or "/pid.N".
                let nv = parts[1].split(separator: "/")
                let kinds: [Substring: Int32] = ["signal": 0, "none": 1, "thread": 2]
                current?.notify = kinds[nv.first ?? ""] ?? 0
                if nv.count > 1, nv[1].hasPrefix("tid."), let tid = Int32(nv[1].dropFirst(4)) {
                    current?.notify |= 4
                    current?.thread = tid
                }
            case "ClockID":
                current?.clock = Int32(parts[1]) ?? 0
            default:
                break
            }
        }
        if let c = current { result.append(c) }
        return result
    }

    /// Once every thread of the process exists: a timer may signal one
    /// thread alone (SIGEV_THREAD_ID) or count one thread's CPU time, and
    /// timer_create takes neither for a thread that is not there yet.
    /// The thread a timer signals is named as the process numbers it.
    static func restore(_ timers: [PosixTimerImage], of process: ProcessImage, with inj: RemoteSyscall) throws {
        guard !timers.isEmpty else { return }
        let on = try inj.call(Syscall.prctl, 77, 1, 0, 0, 0) // PR_TIMER_CREATE_RESTORE_IDS, ON
        if on < 0 {
            throw CheckpointError("this kernel cannot create POSIX timers with given ids (PR_TIMER_CREATE_RESTORE_IDS: \(ErrnoNames.name(Int32(-on)))); pid \(inj.tracee.pid) has \(timers.count)")
        }
        for t in timers.sorted(by: { $0.id < $1.id }) {
            // struct sigevent: sigval, signo, notify, then the thread id.
            let thread = process.threads.first { $0.tid == t.thread }?.namespaceTids?.last ?? t.thread
            var event = [UInt8].le(t.value) + [UInt8].le(t.signal, t.notify, thread)
            event += [UInt8](repeating: 0, count: 64 - event.count)
            let eventAddress = try inj.stage(event, at: 0)
            let idAddress = try inj.stage([UInt8].le(t.id), at: 128)
            // CPU-time clocks of a process or thread are negative ids.
            try inj.checked("timer_create of timer \(t.id)", Syscall.timerCreate, UInt64(bitPattern: Int64(t.clock)), eventAddress, idAddress)
            let created = try inj.fetch(at: 128, count: 4).le(Int32.self, at: 0)
            guard created == t.id else {
                throw CheckpointError("POSIX timer \(t.id) of pid \(inj.tracee.pid) came back as \(created)")
            }
            if t.valueNanoseconds != 0 {
                let spec = [UInt8].le(t.intervalNanoseconds / 1_000_000_000, t.intervalNanoseconds % 1_000_000_000,
                                      t.valueNanoseconds / 1_000_000_000, t.valueNanoseconds % 1_000_000_000)
                try inj.checked("timer_settime of timer \(t.id)", Syscall.timerSettime, UInt64(t.id), 0, try inj.stage(spec, at: 256), 0)
            }
        }
        try inj.checked("PR_TIMER_CREATE_RESTORE_IDS off", Syscall.prctl, 77, 0, 0, 0, 0)
    }
}
