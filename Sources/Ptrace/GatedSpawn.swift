import CSupport
import Glibc

/// Starts a program as a new process with a chosen PID, held at a gate
/// until the caller has seized it, so the exec stop is never missed.
public struct GatedProcess {
    public let pid: Int32
    private let gateWrite: Int32

    /// Forks (clone3 with set_tid) and leaves the child waiting before exec.
    /// With `newPidNamespace`, the child is the first process of a new PID
    /// namespace: pid 1 there, `wanted` in the caller's. A `handing`
    /// descriptor reaches the program at 3.
    public static func spawn(pid wanted: Int32, newPidNamespace: Bool = false, executable: String, arguments: [String],
                             handing kept: Int32? = nil) throws -> GatedProcess {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { throw SystemError("pipe for the restore gate") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        defer { argv.forEach { free($0) } }
        // set_tid: the innermost namespace's first.
        let tids: [pid_t] = newPidNamespace ? [1, wanted] : wanted > 0 ? [wanted] : []
        let flags: UInt64 = newPidNamespace ? NamespaceKind.pid.cloneFlag : 0
        let child = argv.withUnsafeBufferPointer { a in
            envp.withUnsafeBufferPointer { e in
                tids.withUnsafeBufferPointer { t in
                    cr_spawn_gated(t.baseAddress, t.count, flags, executable, a.baseAddress, e.baseAddress, fds[0], kept ?? -1)
                }
            }
        }
        let err = errno
        close(fds[0])
        if child < 0 {
            close(fds[1])
            let what = newPidNamespace ? "clone3 with CLONE_NEWPID and set_tid 1, \(wanted)" : "clone3 with set_tid \(wanted)"
            throw SystemError(what, pid: wanted, errno: err)
        }
        return GatedProcess(pid: child, gateWrite: fds[1])
    }

    /// Lets the child go on to exec.
    public func open() throws {
        var byte: UInt8 = 1
        let n = write(gateWrite, &byte, 1)
        close(gateWrite)
        if n != 1 { throw SystemError("write to the restore gate", pid: pid) }
    }

    /// Seizes the child with `options`, lets it go on to exec, and
    /// returns it stopped just past the exec, ready for injected calls.
    public func seizeThroughExec(options: PtraceOptions) throws -> Tracee {
        let tracee = try Tracee.seize(tid: pid, pid: pid, options: options)
        try open()
        let stop = try tracee.waitStop()
        guard case .event(.exec, _) = stop else {
            throw TraceError(pid: pid, "the restore stub \(stop) instead of stopping at exec")
        }
        try tracee.stepOutOfSyscall()
        return tracee
    }

    /// Abandons the child: kill and reap.
    public func abandon() {
        close(gateWrite)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, Int32(bitPattern: 0x4000_0000))
    }
}

/// Finding a `syscall` instruction (0f 05) to inject through.
public enum SyscallSite {
    /// The address of a `syscall` instruction in the process's vDSO.
    public static func inVDSO(pid: Int32, maps: [MapEntry]) throws -> UInt64 {
        guard let vdso = maps.first(where: { $0.path == "[vdso]" }) else {
            throw TraceError(pid: pid, "has no [vdso] mapping to inject system calls through")
        }
        let bytes = try RemoteMemory(pid: pid).read(at: vdso.start, count: Int(vdso.size))
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == 0x0f && bytes[i + 1] == 0x05 { return vdso.start + UInt64(i) }
            i += 1
        }
        throw TraceError(pid: pid, "no syscall instruction found in the vDSO")
    }
}
