import CSupport
import Glibc

/// A pidfd on another process, for taking copies of its file descriptors
/// (pidfd_getfd) so crtool can inspect the very same open file
/// description: tee a pipe, read socket options, compare with kcmp.
public final class PidFD {
    public let pid: Int32
    public let fd: Int32

    public init(pid: Int32) throws {
        self.pid = pid
        let r = cr_syscall6(Int(Syscall.pidfdOpen), UInt64(pid), 0, 0, 0, 0, 0)
        if r < 0 { throw SystemError("pidfd_open", pid: pid) }
        fd = Int32(r)
    }

    deinit { close(fd) }

    /// A new pidfd on `pid` with pidfd_open's `flags` (PIDFD_NONBLOCK,
    /// PIDFD_THREAD), as a plain descriptor the caller owns.
    public static func open(pid: Int32, flags: Int32) throws -> Int32 {
        let r = cr_syscall6(Int(Syscall.pidfdOpen), UInt64(pid), UInt64(UInt32(bitPattern: flags)), 0, 0, 0, 0)
        if r < 0 { throw SystemError("pidfd_open of pid \(pid)", pid: pid) }
        return Int32(r)
    }

    /// Frees the memory of a process already sent SIGKILL, on the calling
    /// thread (process_mrelease): the kernel lets a process's exit free
    /// its memory before anyone learns of the exit, so whoever waits for
    /// its PID waits for that; reaped from here at the same time, on
    /// another core, the wait is about halved. The kernel refuses with
    /// EINVAL while the process is not dying, or shares its memory with a
    /// process that is not, and answers ESRCH once the process has let
    /// go of its memory by itself.
    public func releaseMemory() throws {
        let r = cr_syscall6(Int(Syscall.processMrelease), UInt64(UInt32(bitPattern: fd)), 0, 0, 0, 0, 0)
        if r < 0 { throw SystemError("process_mrelease", pid: pid) }
    }

    /// Whether the process has ended as a whole. The kernel makes a pidfd
    /// readable once every thread has exited, not while the main thread
    /// alone has: after pthread_exit in main, or while a thread's exec
    /// kills the main thread and is about to take its PID. Read from
    /// /proc, both look like a zombie, and a process that execs from a
    /// thread over and over looks like one at every look.
    public var processHasEnded: Bool {
        var wanted = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&wanted, 1, 0) == 1
    }

    /// Whether the process `pid` has ended as a whole (`processHasEnded`),
    /// or is gone altogether: no process has that PID any more.
    public static func processHasEnded(pid: Int32) -> Bool {
        guard let handle = try? PidFD(pid: pid) else { return true }
        return handle.processHasEnded
    }

    /// A descriptor in crtool for the process's descriptor `target`
    /// (close-on-exec); the caller closes it.
    public func duplicate(_ target: Int32) throws -> Int32 {
        let r = cr_syscall6(Int(Syscall.pidfdGetfd), UInt64(fd), UInt64(target), 0, 0, 0, 0)
        if r < 0 { throw SystemError("pidfd_getfd of fd \(target)", pid: pid) }
        return Int32(r)
    }
}

/// kcmp(2): whether two descriptors, in the same or different processes,
/// are the same open file description.
public enum KernelCompare {
    /// What two processes may share beyond threads of one (clone flags
    /// without CLONE_THREAD): kcmp's types 1-4.
    public enum Resource: UInt64, CaseIterable, Sendable {
        case memory = 1, fileTable = 2, fileSystem = 3, signalHandlers = 4

        /// The clone flag that shares it.
        public var cloneFlag: String {
            switch self {
            case .memory: return "CLONE_VM"
            case .fileTable: return "CLONE_FILES"
            case .fileSystem: return "CLONE_FS"
            case .signalHandlers: return "CLONE_SIGHAND"
            }
        }
    }

    /// kcmp's order of two processes' `resource`: equal, or which kernel
    /// object is the lower, so that a list sorted by it puts sharers side
    /// by side.
    public static func order(_ resource: Resource, _ pid1: Int32, _ pid2: Int32) throws -> Int {
        let r = cr_syscall6(Int(Syscall.kcmp), UInt64(pid1), UInt64(pid2), resource.rawValue, 0, 0, 0)
        if r < 0 { throw SystemError("kcmp of the \(resource.cloneFlag) resources of pids \(pid1) and \(pid2)", pid: pid1) }
        // 3: different, with no order the kernel will tell.
        return r == 0 ? 0 : r == 1 ? -1 : 1
    }

    public static func sameFile(_ pid1: Int32, _ fd1: Int32, _ pid2: Int32, _ fd2: Int32) throws -> Bool {
        try fileOrder(pid1, fd1, pid2, fd2) == 0
    }

    /// kcmp's order of two descriptors' open file descriptions: 0 for the
    /// same one, else which is the lower, consistently, so that a list of
    /// descriptions kept in this order is searched in log n calls.
    public static func fileOrder(_ pid1: Int32, _ fd1: Int32, _ pid2: Int32, _ fd2: Int32) throws -> Int {
        let r = cr_syscall6(Int(Syscall.kcmp), UInt64(pid1), UInt64(pid2), 0, UInt64(fd1), UInt64(fd2), 0) // KCMP_FILE
        if r < 0 { throw SystemError("kcmp of fd \(fd1) and pid \(pid2) fd \(fd2)", pid: pid1) }
        guard r <= 2 else { throw SystemError("kcmp of fd \(fd1) and pid \(pid2) fd \(fd2) gave no order (\(r))", pid: pid1, errno: EINVAL) }
        return r == 0 ? 0 : r == 1 ? -1 : 1
    }
}
