import Foundation
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
///
/// A file written since the dump but no shorter is restored as it is, with
/// a warning: right for a log, or for the output of a job run on past its
/// checkpoint, but a file the process reads back (its database, its state)
/// changed under it by someone else is worth a word before it acts on it.
enum OpenRegularFiles {
    /// `paths`: where each process's files are in crtool's namespace; a
    /// file of a file system the restore makes anew is not looked for.
    static func requireIntact(_ processes: [ProcessImage], paths: HostPaths = .crtools) throws {
        var missing: [String] = []
        var shortened: [String] = []
        var checked: Set<String> = []
        for (pid, f) in checkable(processes) {
            guard let recorded = f.size, checked.insert("\(f.path)\u{0}\(f.openFile)\u{0}\(f.position)").inserted else { continue }
            let named = name(f, pid)
            guard let path = paths.of(f.path, pid: pid) else { continue }
            switch FileAtPath(path) {
            case .missing(let error):
                missing.append("\(named): \(ErrnoNames.describe(error))")
            case .notRegular:
                missing.append("\(named): no longer a regular file")
            case .regular(let now, _):
                guard let needed = bytesNeeded(by: f), now < needed else { continue }
                shortened.append("\(named): now \(now) bytes, \(needed) needed "
                    + "(the process is at byte \(f.position) of the \(recorded) it had at the dump)")
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

    /// One warning for each file written since the dump, once per path,
    /// leaving out write-only O_APPEND logs, which the process never reads.
    static func writtenSinceDump(_ processes: [ProcessImage], paths: HostPaths = .crtools) -> [String] {
        var warnings: [String] = []
        var named: Set<String> = []
        for (pid, f) in checkable(processes) where !isWriteOnlyAppend(f) {
            guard let then = f.modified, let path = paths.of(f.path, pid: pid), case .regular(let length, let modified) = FileAtPath(path), modified != then,
                  named.insert(f.path).inserted else { continue }
            let lengths = f.size.map { $0 == length ? "\(length) bytes, as at the dump" : "\(length) bytes, \($0) at the dump" } ?? "\(length) bytes"
            warnings.append("\(name(f, pid)) was written since the dump (last modified \(time(modified)), at the dump \(time(then)); \(lengths)): "
                + "the restored process goes on with it as it is now")
        }
        return warnings
    }

    /// Regular files by path with a length recorded, and the pid of the
    /// process that has each open; not those the restore is given
    /// another for (`external`), whose path it does not open.
    private static func checkable(_ processes: [ProcessImage]) -> [(pid: Int32, file: FileDescriptorImage)] {
        processes.flatMap { p in
            p.files.filter { $0.kind == .regular && $0.size != nil && $0.external != true && !isUnderProc($0.path) }.map { (p.pid, $0) }
        }
    }

    private static func name(_ f: FileDescriptorImage, _ pid: Int32) -> String {
        "\(f.path) (fd \(f.fd) of pid \(pid))"
    }

    private static func time(_ nanoseconds: Int64) -> String {
        HostInfo.timestamp(Date(timeIntervalSince1970: Double(nanoseconds) / 1e9), milliseconds: true)
    }

    private static func isWriteOnlyAppend(_ f: FileDescriptorImage) -> Bool {
        f.flags & O_ACCMODE == O_WRONLY && f.flags & O_APPEND != 0
    }

    private static func count(_ files: [String]) -> String {
        files.count == 1 ? "a file" : "\(files.count) files"
    }

    /// How long `f`'s file must still be: what it had up to the
    /// descriptor's position. Nil for a descriptor with nothing to check:
    /// no recorded length, write-only O_APPEND, or at the start.
    static func bytesNeeded(by f: FileDescriptorImage) -> Int64? {
        guard let size = f.size else { return nil }
        let needed = min(size, f.position)
        return isWriteOnlyAppend(f) || needed <= 0 ? nil : needed
    }

    /// /proc/PID paths name processes the restore has yet to make, and
    /// /proc files have no length to check.
    private static func isUnderProc(_ path: String) -> Bool {
        path == "/proc" || path.hasPrefix("/proc/")
    }
}
