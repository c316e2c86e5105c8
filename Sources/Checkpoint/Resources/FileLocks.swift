import Glibc
import Ptrace

/// File locks: POSIX record locks, OFD record locks and flock locks held
/// at the dump are taken again by the restored process, through the same
/// descriptor, before any of its threads runs. A database that held its
/// write lock holds it again, and another process that wants it keeps
/// waiting instead of writing under it. A lock some other process took
/// meanwhile fails the restore with the holder named.
///
/// Leases (F_SETLEASE) are taken again the same way, by the restored
/// process itself: the kernel makes the caller the file's owner, the one
/// it signals when another process opens the file (the kernel marks a
/// leased file O_ASYNC, so the owner and the F_SETSIG signal are saved and
/// set again afterwards as for signal-driven I/O). A lease another opener
/// was breaking at the dump comes back as what the break leaves: a read
/// lease when the break was to one and the descriptor is read-only (the
/// kernel gives no process a read lease on a file open for writing, its
/// own descriptor included), otherwise none. That opener went on while
/// the tree was an image (the lease ended with the dump), and the holder
/// already has its signal, pending or handled, so it downgrades or lets
/// go of the lease as it would have, as it must when the kernel ends a
/// break it waited too long on (lease-break-time).
enum FileLocks {
    /// The locks the kernel lists for the descriptor `probe` looks at.
    static func collect(_ probe: FileProbe) -> [FileLockState]? {
        let locks = probe.info.locks.compactMap { held -> FileLockState? in
            let access: FileLockState.Access = held.access == .write ? .write : .read
            switch held.kind {
            case .posix: return FileLockState(kind: .posix, access: access, start: held.start, end: held.end)
            case .openFileDescription: return FileLockState(kind: .ofd, access: access, start: held.start, end: held.end)
            case .flock: return FileLockState(kind: .flock, access: access, start: 0, end: nil)
            case .lease:
                guard held.breaking else { return FileLockState(kind: .lease, access: access, start: 0, end: nil) }
                // A break to a read lease leaves one only where a process
                // can hold one: a read lease needs the file open nowhere
                // for writing, its own descriptor included.
                guard held.access == .read, probe.info.flags & O_ACCMODE == O_RDONLY else { return nil }
                return FileLockState(kind: .lease, access: .read, start: 0, end: nil)
            }
        }
        return locks.isEmpty ? nil : locks
    }

    /// Takes every lock of `files` again in the process of `context`. A
    /// lock of an open file description several descriptors share (dup,
    /// fork) is taken once: it belongs to the description, wherever it is.
    static func restore(_ files: [FileDescriptorImage], context: FileRestoreContext) throws {
        var descriptionsLocked = context.shared[sharedKey] as? Set<Int> ?? []
        var posixTaken: Set<Int> = []
        for f in files.sorted(by: { $0.fd < $1.fd }) {
            guard let locks = f.locks, !locks.isEmpty else { continue }
            let descriptionDone = descriptionsLocked.contains(f.openFile)
            let posixDone = posixTaken.contains(f.openFile)
            for lock in locks {
                switch lock.kind {
                case .posix where posixDone, .ofd where descriptionDone, .flock where descriptionDone,
                     .lease where descriptionDone: continue
                default: try take(lock, fd: f, context: context)
                }
            }
            descriptionsLocked.insert(f.openFile)
            posixTaken.insert(f.openFile)
        }
        context.shared[sharedKey] = descriptionsLocked
    }

    private static let sharedKey = "open file descriptions whose locks are taken"

    /// fcntl commands glibc's headers hide without _GNU_SOURCE.
    static let setOFDLock: UInt64 = 37 // F_OFD_SETLK
    static let setLease: UInt64 = 1024 // F_SETLEASE

    private static func take(_ lock: FileLockState, fd f: FileDescriptorImage, context: FileRestoreContext) throws {
        let inj = context.inj
        let result: Int64
        switch lock.kind {
        case .posix, .ofd:
            let command = lock.kind == .posix ? UInt64(F_SETLK) : setOFDLock
            let request = try inj.stage(flockRecord(lock))
            result = try inj.call(Syscall.fcntl, UInt64(f.fd), command, request)
        case .flock:
            let operation = (lock.access == .write ? LOCK_EX : LOCK_SH) | LOCK_NB
            result = try inj.call(Syscall.flock, UInt64(f.fd), UInt64(operation))
        case .lease:
            result = try inj.call(Syscall.fcntl, UInt64(f.fd), setLease, UInt64(lock.access == .write ? F_WRLCK : F_RDLCK))
        }
        guard result < 0 else { return }
        let errno = Int32(-result)
        var message = "pid \(context.pid) cannot take back its \(lock) on \(f.path) (fd \(f.fd)): "
            + ErrnoNames.name(errno)
        if lock.kind == .lease, errno == EAGAIN {
            message += "; " + leaseObstacle(lock, path: f.path, pid: context.pid, fd: f.fd)
        } else if errno == EAGAIN || errno == EACCES, let holders = conflictingHolders(pid: context.pid, fd: f.fd, lock: lock) {
            message += "; held now by \(holders)"
        }
        throw CheckpointError(message)
    }

    /// struct flock: l_type, l_whence, l_start, l_len, l_pid (x86-64 layout).
    static func flockRecord(_ lock: FileLockState) -> [UInt8] {
        let type = Int16(lock.access == .write ? F_WRLCK : F_RDLCK)
        return [UInt8].le(type, Int16(SEEK_SET)) + [UInt8](repeating: 0, count: 4)
            + [UInt8].le(lock.start, lock.length) + [UInt8](repeating: 0, count: 8)
    }

    /// Why the kernel refused a lease: a write lease needs the file open
    /// nowhere else, a read lease needs it open nowhere for writing. The
    /// descriptors named are other openings of the file: copies of the
    /// leased description (the restored tree's own, after a fork) are not.
    private static func leaseObstacle(_ lock: FileLockState, path: String, pid: Int32, fd: Int32) -> String {
        let rule = lock.access == .write ? "a write lease needs the file open by no one else"
            : "a read lease needs the file open by no one for writing"
        let others = SystemDescriptors().holders(of: path).filter { (try? KernelCompare.fileOrder(pid, fd, $0.pid, $0.fd)) != 0 }
        guard !others.isEmpty else { return rule }
        let named = others.map { "pid \($0.pid) fd \($0.fd)" }.joined(separator: ", ")
        return rule + ", and it is open now in " + named
    }

    /// Who holds locks on the same file that stand in the way, from
    /// /proc/locks, for the error message.
    private static func conflictingHolders(pid: Int32, fd: Int32, lock: FileLockState) -> String? {
        var st = stat()
        guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0, let all = try? HeldFileLock.systemWide() else { return nil }
        let wantedKinds: Set<HeldFileLock.Kind> = lock.kind == .flock ? [.flock] : [.posix, .openFileDescription]
        let blockers = all.filter { held in
            held.inode == UInt64(st.st_ino) && wantedKinds.contains(held.kind)
                && (lock.access == .write || held.access == .write)
                && held.start <= (lock.end ?? .max) && lock.start <= (held.end ?? .max)
        }
        guard !blockers.isEmpty else { return nil }
        return blockers.map { $0.pid > 0 ? "pid \($0.pid)" : "an open file description (OFD lock)" }
            .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            .joined(separator: ", ")
    }
}
