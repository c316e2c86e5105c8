import Foundation
import Ptrace

/// A thread's seccomp filters: read with PTRACE_SECCOMP_GET_FILTER
/// (index 0 is the newest) and installed again oldest first by an
/// injected seccomp(SECCOMP_SET_MODE_FILTER). crtool's tracees run with
/// PTRACE_O_SUSPEND_SECCOMP, so neither the dump's nor the restore's
/// injected calls are filtered; the filters bind again at detach.
enum SeccompFilters {
    static func read(_ t: Tracee, mode: Int) throws -> [Data] {
        switch mode {
        case 0:
            return []
        case 2:
            var newestFirst: [Data] = []
            while let program = try t.seccompFilter(index: newestFirst.count) {
                newestFirst.append(Data(program))
                if newestFirst.count > 1024 { break }
            }
            return newestFirst.reversed()
        default:
            throw CheckpointError("thread \(t.tid) of pid \(t.pid) runs in seccomp strict mode; crtool cannot restore it")
        }
    }

    static func install(_ filters: [Data], with inj: RemoteSyscall) throws {
        for (i, program) in filters.enumerated() {
            let instructions = [UInt8](program)
            guard instructions.count % 8 == 0, instructions.count / 8 <= 4096, !instructions.isEmpty else {
                throw ImageError(file: "process-\(inj.tracee.pid).json", field: "threads.seccompFilters[\(i)]",
                                 reason: "\(instructions.count) bytes is not a classic BPF program")
            }
            let code = try inj.stage(instructions, at: 4096)
            let fprog = try inj.stage([UInt8].le(UInt64(instructions.count / 8), code), at: 0)
            try inj.checked("seccomp filter \(i + 1) of \(filters.count)", Syscall.seccomp, 1, 0, fprog) // SECCOMP_SET_MODE_FILTER
        }
    }
}
