import Glibc
import Ptrace

/// Refuses processes crtool must not or cannot dump, before touching them.
enum DumpTarget {
    static func validate(pid: Int32) throws -> ProcStat {
        guard pid > 0 else { throw CheckpointError("invalid PID \(pid)") }
        let stat: ProcStat
        do {
            stat = try ProcStat.read(pid: pid)
        } catch let e as SystemError where e.errno == ENOENT {
            throw CheckpointError("no process with PID \(pid)")
        }
        if stat.isKernelThread {
            throw CheckpointError("PID \(pid) (\(stat.command)) is a kernel thread; only user processes can be dumped")
        }
        if pid == getpid() {
            throw CheckpointError("PID \(pid) is crtool itself; it cannot dump itself")
        }
        if pid == getppid() {
            throw CheckpointError("PID \(pid) (\(stat.command)) is crtool's parent; a process cannot be dumped by its own child")
        }
        let ancestors = crtoolsAncestors()
        if let index = ancestors.firstIndex(where: { $0.pid == pid }) {
            let line = ancestors[...index].reversed().map { "\($0.command) \($0.pid)" } + ["crtool \(getpid())"]
            throw CheckpointError("PID \(pid) (\(stat.command)) is an ancestor of crtool (\(line.joined(separator: " > "))); "
                + "the tree under it holds crtool itself, which cannot freeze the tree it runs in")
        }
        // A leader whose thread execs reads as a zombie, and for an
        // instant as dead (X) while the exec'ing thread takes its PID:
        // only a process whose every thread has ended is called ended.
        if (stat.state == "Z" || stat.state == "X") && FrozenProcess.hasEnded(pid: pid) {
            throw CheckpointError("PID \(pid) (\(stat.command)) is a zombie; there is nothing left to dump")
        }
        return stat
    }

    /// crtool's parent, grandparent and so on up to PID 1, nearest first.
    static func crtoolsAncestors() -> [(pid: Int32, command: String)] {
        var chain: [(pid: Int32, command: String)] = []
        var pid = getppid()
        while pid > 0, chain.count < 4096, let stat = try? ProcStat.read(pid: pid) {
            chain.append((pid, stat.command))
            pid = stat.ppid
        }
        return chain
    }
}
