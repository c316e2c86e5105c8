import CSupport
import Glibc

/// How the kernel schedules one thread, as sched_getattr reports it: the
/// policy with its parameters, the nice value and SCHED_RESET_ON_FORK.
/// A job started under `nice -n 19`, `chrt --idle` or `chrt --fifo`
/// keeps it only if all of this is set again.
public struct SchedulingAttributes: Codable, Equatable, Sendable {
    /// SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6.
    public var policy: UInt32
    /// SCHED_FLAG_RESET_ON_FORK (1) and the other sched_attr flags.
    public var flags: UInt64
    /// The nice value, kept under every policy though only SCHED_OTHER
    /// and SCHED_BATCH use it (and sched_getattr shows it only for those
    /// and SCHED_IDLE): it is the one a real-time thread returns to.
    public var nice: Int32
    /// 1-99 for FIFO and RR, 0 for the others.
    public var priority: UInt32
    /// SCHED_DEADLINE's budget, deadline and period, in nanoseconds.
    public var runtime: UInt64
    public var deadline: UInt64
    public var period: UInt64

    public init(policy: UInt32, flags: UInt64, nice: Int32, priority: UInt32, runtime: UInt64 = 0, deadline: UInt64 = 0, period: UInt64 = 0) {
        self.policy = policy
        self.flags = flags
        self.nice = nice
        self.priority = priority
        self.runtime = runtime
        self.deadline = deadline
        self.period = period
    }
}

/// The per-thread scheduling calls, made by crtool on any thread it may
/// trace: sched_getattr/sched_setattr, sched_getaffinity/sched_setaffinity
/// and ioprio_get/ioprio_set.
public enum Scheduling {
    /// struct sched_attr up to sched_period (SCHED_ATTR_SIZE_VER0): the
    /// utilization clamps after it are left as they are.
    static let attributeSize = 48
    static let maskBytes = 128 // 1024 CPUs

    public static func attributes(of tid: Int32) throws -> SchedulingAttributes {
        var raw = [UInt8](repeating: 0, count: attributeSize)
        let r = raw.withUnsafeMutableBytes { cr_syscall6(315, UInt64(tid), UInt64(UInt(bitPattern: $0.baseAddress)), UInt64(attributeSize), 0, 0, 0) }
        if r < 0 { throw SystemError("sched_getattr of thread \(tid)", pid: tid) }
        // getpriority(PRIO_PROCESS, tid) answers 20 - nice under any policy.
        let priority = cr_syscall6(140, 0, UInt64(tid), 0, 0, 0, 0)
        if priority < 0 { throw SystemError("getpriority of thread \(tid)", pid: tid) }
        let policy = raw.le(UInt32.self, at: 4)
        // For the other policies sched_getattr puts the fair scheduler's
        // time slice in sched_runtime, a custom one or the host's default
        // alike; given back, it would pin this host's default as custom.
        let deadlinePolicy = policy == 6
        return SchedulingAttributes(
            policy: policy, flags: raw.le(UInt64.self, at: 8), nice: 20 - Int32(priority),
            priority: raw.le(UInt32.self, at: 20), runtime: deadlinePolicy ? raw.le(UInt64.self, at: 24) : 0,
            deadline: deadlinePolicy ? raw.le(UInt64.self, at: 32) : 0, period: deadlinePolicy ? raw.le(UInt64.self, at: 40) : 0)
    }

    public static func setAttributes(_ a: SchedulingAttributes, of tid: Int32) throws {
        var raw = [UInt8].le(UInt32(attributeSize), a.policy) + [UInt8].le(a.flags) + [UInt8].le(a.nice) + [UInt8].le(a.priority)
            + [UInt8].le(a.runtime, a.deadline, a.period)
        let r = raw.withUnsafeMutableBytes { cr_syscall6(314, UInt64(tid), UInt64(UInt(bitPattern: $0.baseAddress)), 0, 0, 0, 0) }
        if r < 0 { throw SystemError("sched_setattr of thread \(tid)", pid: tid) }
    }

    /// The CPUs the thread may run on.
    public static func cpus(of tid: Int32) throws -> [Int] {
        var mask = [UInt8](repeating: 0, count: maskBytes)
        let r = mask.withUnsafeMutableBytes { cr_syscall6(204, UInt64(tid), UInt64(maskBytes), UInt64(UInt(bitPattern: $0.baseAddress)), 0, 0, 0) }
        if r < 0 { throw SystemError("sched_getaffinity of thread \(tid)", pid: tid) }
        return (0..<(Int(r) * 8)).filter { mask[$0 / 8] & (1 << ($0 % 8)) != 0 }
    }

    public static func setCPUs(_ cpus: [Int], of tid: Int32) throws {
        var mask = [UInt8](repeating: 0, count: maskBytes)
        for cpu in cpus where cpu >= 0 && cpu < maskBytes * 8 { mask[cpu / 8] |= 1 << (cpu % 8) }
        let r = mask.withUnsafeMutableBytes { cr_syscall6(203, UInt64(tid), UInt64(maskBytes), UInt64(UInt(bitPattern: $0.baseAddress)), 0, 0, 0) }
        if r < 0 { throw SystemError("sched_setaffinity of thread \(tid)", pid: tid) }
    }

    /// IOPRIO_WHO_PROCESS with a thread id: that thread's I/O class << 13 | level.
    public static func ioPriority(of tid: Int32) throws -> Int32 {
        let r = cr_syscall6(252, 1, UInt64(tid), 0, 0, 0, 0)
        if r < 0 { throw SystemError("ioprio_get of thread \(tid)", pid: tid) }
        return Int32(r)
    }

    public static func setIOPriority(_ value: Int32, of tid: Int32) throws {
        let r = cr_syscall6(251, 1, UInt64(tid), UInt64(UInt32(bitPattern: value)), 0, 0, 0)
        if r < 0 { throw SystemError("ioprio_set of thread \(tid)", pid: tid) }
    }
}
