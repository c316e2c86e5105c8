import Glibc
import Ptrace

/// pidfd descriptors (pidfd_open, clone3 with CLONE_PIDFD): a handle on a
/// process that does not go over to another one when the pid is reused,
/// as asyncio's child watcher and service managers hold them. The restore
/// opens a new pidfd on the same pid: a process of the image is restored
/// with that pid before any descriptor is made; a process outside it must
/// still run, checked by its start time.
///
/// Refused at dump: a pidfd whose process has exited and been reaped
/// (nothing could be opened on it again), and one on a thread other than
/// a process leader of the image (threads are made after descriptors).
enum PidFDs: FileKind {
    static let kind = FileDescriptorImage.Kind.pidfd

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[pidfd]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        guard let text = p.info.fields["Pid"], let pid = Int32(text) else {
            throw ProcParseError(file: "/proc/\(p.pid)/fdinfo/\(p.fd)", line: p.info.fields["Pid"] ?? "", reason: "missing or bad Pid")
        }
        func refuse(_ why: String) -> CheckpointError {
            CheckpointError("pid \(p.pid) fd \(p.fd) is a pidfd \(why)")
        }
        guard pid > 0 else {
            throw refuse(pid == 0 ? "on a process in another pid namespace" : "on a process that has exited and been reaped; no pidfd can be opened on it again")
        }
        guard let status = try? ProcStatus.read(pid: pid), let stat = try? ProcStat.read(pid: pid) else {
            throw refuse("on pid \(pid), which exited during the dump")
        }
        guard status.fields["Tgid"] == "\(pid)" else {
            throw refuse("on thread \(pid), which is not a process leader; crtool restores pidfds on processes only")
        }
        // The whole tree is frozen: a process of the image is traced by
        // crtool; anything else is outside it.
        let inImage = FrozenByCrtool.contains(pid)
        image.pidfd = PidFDState(pid: pid, outsideStartTime: inImage ? nil : stat.startTime)
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let state = image.pidfd else {
            throw CheckpointError("fd \(image.fd) of pid \(context.pid) is a pidfd without its saved state")
        }
        if let started = state.outsideStartTime, (try? ProcStat.read(pid: state.pid))?.startTime != started {
            throw CheckpointError("fd \(image.fd) of pid \(context.pid) is a pidfd on pid \(state.pid), outside the image, "
                + "which has exited since the dump (or is another process now)")
        }
        // PIDFD_NONBLOCK is O_NONBLOCK; PIDFD_THREAD is O_EXCL.
        let flags = image.flags & (O_NONBLOCK | O_EXCL)
        return .local(try PidFD.open(pid: state.pid, flags: flags))
    }
}
