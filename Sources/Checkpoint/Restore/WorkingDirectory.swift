import Foundation
import Glibc
import Ptrace

/// Puts a restored process in its working directory. The path is the one
/// crtool read through /proc/PID/cwd, from its own root, so the process
/// moves there before any chroot.
///
/// A directory deleted while the process stood in it ("/path (deleted)",
/// as a shell's can be) cannot be entered by path: an empty directory is
/// made at that path, entered and removed again, so the process stands in
/// a deleted directory of the same name as before. When the path is taken
/// again (or its parent is gone) the directory is made under a fresh
/// temporary directory instead, never touching what is there, and the
/// restore says so.
enum WorkingDirectory {
    static let deletedSuffix = " (deleted)"

    static func enter(_ process: ProcessImage, inj: RemoteSyscall, warnings: inout [String]) throws {
        guard process.cwd.hasSuffix(deletedSuffix) else {
            try chdir(process.cwd, process: process, inj: inj)
            return
        }
        let path = String(process.cwd.dropLast(deletedSuffix.count))
        if mkdir(path, 0o700) == 0 {
            defer { rmdir(path) }
            try chdir(path, process: process, inj: inj)
            return
        }
        let taken = errno
        let parent: String
        do {
            parent = try TemporaryDirectory.make(prefix: "crtool-cwd")
        } catch let e as SystemError {
            throw CheckpointError("cannot make a deleted working directory for pid \(process.pid): \(ErrnoNames.name(e.errno))")
        }
        let stand = parent + "/" + ((path as NSString).lastPathComponent.isEmpty ? "cwd" : (path as NSString).lastPathComponent)
        defer {
            rmdir(stand)
            rmdir(parent)
        }
        guard mkdir(stand, 0o700) == 0 else {
            throw CheckpointError("cannot make a deleted working directory for pid \(process.pid): \(ErrnoNames.name(errno))")
        }
        try chdir(stand, process: process, inj: inj)
        warnings.append("pid \(process.pid) worked in \(path), deleted; that path cannot be made again "
            + "(\(ErrnoNames.name(taken))), so it works in a deleted directory that was \(stand)")
    }

    private static func chdir(_ path: String, process: ProcessImage, inj: RemoteSyscall) throws {
        let r = try inj.call(Syscall.chdir, try inj.stage(string: path))
        if r < 0 {
            throw CheckpointError("cannot restore the working directory \(process.cwd) of pid \(process.pid): \(ErrnoNames.name(Int32(-r)))")
        }
    }
}
