import Glibc
import Ptrace

/// Signal-driven I/O: a descriptor with O_ASYNC signals its owner (a
/// thread, a process or a group, F_SETOWN_EX) with SIGIO or the signal
/// F_SETSIG chose when it becomes ready; a socket signals SIGURG to its
/// owner even without O_ASYNC. nginx's master and workers talk this way.
/// Owner and signal belong to the open file description: crtool reads
/// them on its copy at the dump and sets them on a copy of the restored
/// descriptor once every thread exists (an owner may be a thread). O_ASYNC
/// is set by the process itself (injected F_SETFL, the only way that
/// registers the file), since the file puts the number of the descriptor
/// it was set through in every signal it sends (si_fd).
enum SignalDrivenIO {
    static func owner(of p: FileProbe, kind: FileDescriptorImage.Kind, context: FileDumpContext) throws -> FileOwner? {
        let async = p.info.flags & O_ASYNC != 0
        guard async || kind == .unixSocket || kind == .inetSocket || kind == .rawSocket || kind == .netlinkSocket || kind == .packetSocket else { return nil }
        let owner = try FileOwner.read(try context.local(p.fd))
        return async || owner.id != 0 || owner.signal != 0 ? owner : nil
    }

    static func restore(_ process: ProcessImage, with inj: RemoteSyscall, warnings: inout [String]) throws {
        let files = process.files.filter { $0.owner != nil }
        guard !files.isEmpty else { return }
        let pidfd = try PidFD(pid: process.pid)
        for f in files {
            let copy = try pidfd.duplicate(f.fd)
            defer { close(copy) }
            do {
                try f.owner!.apply(to: copy)
            } catch {
                warnings.append("fd \(f.fd) of pid \(process.pid) signals \(f.owner!.kind) \(f.owner!.id) no more: \(error)")
                continue
            }
            guard f.flags & O_ASYNC != 0 else { continue }
            let flags = try inj.checked("F_GETFL of fd \(f.fd)", Syscall.fcntl, UInt64(f.fd), UInt64(F_GETFL))
            try inj.checked("F_SETFL O_ASYNC on fd \(f.fd)", Syscall.fcntl, UInt64(f.fd), UInt64(F_SETFL), flags | UInt64(O_ASYNC))
        }
    }
}
