import Glibc
import Ptrace

/// The check a restore makes, before it creates any process, that each
/// regular file a process has open is still at its path and still holds
/// the bytes up to where the process is in it.
///
/// A file is reopened by path and put back at its saved position. One that
/// is gone would fail the restore half way, one process and one file at a
/// time; something else at the path (a FIFO) could even block it. When it
/// was cut shorter since the dump (truncated, or replaced by a shorter
/// one), a reader would carry on past the end and see nothing of what it
/// expected, and a writer would leave a hole of zeros where its own earlier
/// records were. Growth is fine: a log read by another program, or the
/// output of a job run on past the checkpoint it is restored from, grows,
/// and the restored process simply goes on from its position. A log opened
/// write-only with O_APPEND writes at the end whatever the end is, so one
/// rotated in place is not refused for its length.
enum OpenRegularFiles {
    static func requireIntact(_ processes: [ProcessImage]) throws {
        var missing: [String] = []
        var shortened: [String] = []
        var checked: Set<String> = []
        for p in processes {
            for f in p.files where f.kind == .regular {
                guard let recorded = f.size, !isUnderProc(f.path),
                      checked.insert("\(f.path)\u{0}\(f.openFile)\u{0}\(f.position)").inserted else { continue }
                let named = "\(f.path) (fd \(f.fd) of pid \(p.pid))"
                switch FileAtPath(f.path) {
                case .missing(let error):
                    missing.append("\(named): \(ErrnoNames.describe(error))")
                case .notRegular:
                    missing.append("\(named): no longer a regular file")
                case .regular(let now):
                    guard let needed = bytesNeeded(by: f), now < needed else { continue }
                    shortened.append("\(named): now \(now) bytes, \(needed) needed "
                        + "(the process is at byte \(f.position) of the \(recorded) it had at the dump)")
                }
            }
        }
        var problems: [String] = []
        if !missing.isEmpty {
            problems.append("\(count(missing)) the image has open cannot be found as it was: " + missing.joined(separator: "; "))
        }
        if !shortened.isEmpty {
            problems.append("\(count(shortened)) the image has open became shorter since the dump, "
                + "so the restored process would go on past bytes that are gone "
                + "(to go on over the gap instead, lengthen each with zeros to what it needs: truncate -s): "
                + shortened.joined(separator: "; "))
        }
        guard problems.isEmpty else {
            let sentences = problems.enumerated().map { i, text in i == 0 ? text : text.prefix(1).uppercased() + text.dropFirst() }
            throw CheckpointError(sentences.joined(separator: ". ") + ". Put back the files as they were to restore it")
        }
    }

    private static func count(_ files: [String]) -> String {
        files.count == 1 ? "a file" : "\(files.count) files"
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

    /// /proc/PID paths name processes the restore has yet to make, and
    /// /proc files have no length to check.
    private static func isUnderProc(_ path: String) -> Bool {
        path == "/proc" || path.hasPrefix("/proc/")
    }
}
