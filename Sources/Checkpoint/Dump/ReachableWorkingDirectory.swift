import Glibc
import Ptrace

/// The restore enters a working directory by its path, so the path must
/// lead to it: it does not when the directory is on a mount the process's
/// namespace no longer has (pivot_root leaves a process of the namespace
/// that stood outside the new root there). A deleted one is made again
/// instead (WorkingDirectory).
enum ReachableWorkingDirectory {
    static func of(pid: Int32) throws -> String {
        let cwd = try ProcFile.link("/proc/\(pid)/cwd", pid: pid)
        var there = stat(), here = stat()
        guard !cwd.hasSuffix(WorkingDirectory.deletedSuffix), stat("/proc/\(pid)/cwd", &here) == 0 else { return cwd }
        guard stat(ReachablePath.of(cwd, pid: pid), &there) == 0, there.st_dev == here.st_dev, there.st_ino == here.st_ino else {
            throw CheckpointError("pid \(pid) stands in \(cwd), but that path does not lead to its working directory (a directory of a mount "
                + "its mount namespace no longer has, as pivot_root leaves a process that stood outside the new root); "
                + "crtool enters the working directory by its path")
        }
        return cwd
    }
}
