import Glibc
import Ptrace

/// The check a restore makes, before it creates any process, that each
/// regular file a process has open still holds the bytes up to where the
/// process is in it.
///
/// A file is reopened by path and put back at its saved position. When it
/// was cut shorter since the dump (truncated, or replaced by a shorter
/// one), a reader would carry on past the end and see nothing of what it
/// expected, and a writer would leave a hole of zeros where its own earlier
/// records were. Growth is fine: a log read by another program, or the
/// output of a job run on past the checkpoint it is restored from, grows,
/// and the restored process simply goes on from its position. A log opened
/// write-only with O_APPEND writes at the end whatever the end is, so one
/// rotated in place is not refused.
enum OpenFileLengths {
    static func requireIntact(_ processes: [ProcessImage]) throws {
        var shortened: [String] = []
        var checked: Set<String> = []
        for p in processes {
            for f in p.files where f.kind == .regular {
                guard let needed = bytesNeeded(by: f), checked.insert("\(f.path)\u{0}\(f.openFile)\u{0}\(f.position)").inserted,
                      let now = length(of: f.path), now < needed else { continue }
                shortened.append("\(f.path) (fd \(f.fd) of pid \(p.pid)): now \(now) bytes, \(needed) needed "
                    + "(the process is at byte \(f.position) of the \(f.size!) it had at the dump)")
            }
        }
        guard shortened.isEmpty else {
            throw CheckpointError("\(shortened.count == 1 ? "a file" : "\(shortened.count) files") the image has open "
                + "became shorter since the dump, so the restored process would go on past bytes that are gone; "
                + "put back the files as they were to restore it (or, to go on over the gap, lengthen each with zeros "
                + "to what it needs: truncate -s): " + shortened.joined(separator: "; "))
        }
    }

    /// How long `f`'s file must still be: what it had up to the
    /// descriptor's position. Nil for a descriptor with nothing to check:
    /// no recorded length, write-only O_APPEND, or at the start.
    static func bytesNeeded(by f: FileDescriptorImage) -> Int64? {
        guard let size = f.size else { return nil }
        let writeOnlyAppend = f.flags & O_ACCMODE == O_WRONLY && f.flags & O_APPEND != 0
        let needed = min(size, f.position)
        return writeOnlyAppend || needed <= 0 ? nil : needed
    }

    /// The length of the regular file at `path` now; nil when there is none
    /// there, which the restore's open reports in its own words (a path
    /// under /proc/PID of a process not yet restored, say).
    private static func length(of path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(info.st_size)
    }
}
