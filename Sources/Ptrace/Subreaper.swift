import CSupport
import Foundation
import Glibc

/// PR_SET_CHILD_SUBREAPER: orphans of the processes we start (a tree
/// whose root was killed by a dump) are re-parented to us instead of to
/// init, which reaps them slowly, so their PIDs are free again at once.
public enum Subreaper {
    public static func become() throws {
        try set(true)
    }

    public static func set(_ on: Bool) throws {
        if cr_syscall6(Int(Syscall.prctl), 36, on ? 1 : 0, 0, 0, 0, 0) != 0 {
            throw SystemError("PR_SET_CHILD_SUBREAPER")
        }
    }

    /// Whether the calling process is one (PR_GET_CHILD_SUBREAPER).
    public static var isSet: Bool {
        var flag: Int32 = 0
        return withUnsafeMutablePointer(to: &flag) { p in
            cr_syscall6(Int(Syscall.prctl), 37, UInt64(UInt(bitPattern: p)), 0, 0, 0, 0) == 0
        } && flag != 0
    }

    /// Runs `body` as a subreaper, then reaps each of `pids` that became
    /// crtool's child meanwhile, parents before children (a child is
    /// re-parented only once its parent is reaped), waiting at most
    /// `timeout` seconds for each; then is what it was before. For a tree
    /// crtool kills: without it the orphans' zombies would wait for init,
    /// which on some hosts reaps them a second or two later, and a pid
    /// still taken fails the next restore.
    public static func reapingOrphans(_ pids: [Int32], timeout: Double = 5, _ body: () -> Void) {
        let was = isSet
        if !was { try? set(true) }
        defer { if !was { try? set(false) } }
        body()
        for pid in pids {
            let deadline = Date().addingTimeInterval(timeout)
            var status: Int32 = 0
            while true {
                let r = waitpid(pid, &status, WNOHANG | __WALL)
                if r == pid || (r < 0 && errno != EINTR) || Date() > deadline { break }
                if r == 0 { usleep(1000) }
            }
        }
    }
}
